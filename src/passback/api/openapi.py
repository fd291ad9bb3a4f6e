"""The product API's OpenAPI document, generated from the routes by powertools (docs/openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from passback.domain.products import SCOPE_READ, SCOPE_WRITE

TITLE = "Passback product API"
VERSION = "1"


def document() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import (
        OAuth2,
        OAuthFlowClientCredentials,
        OAuthFlows,
    )

    from passback.api.routes import api

    flows = OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/api/v1/token",
            scopes={SCOPE_WRITE: "post score and activity messages", SCOPE_READ: "read its message statuses"},
        )
    )
    schema = api().get_openapi_schema(
        title=TITLE,
        version=VERSION,
        summary="Products report learners' progress; Passback sends the grades to the LMS.",
        description=(
            "Get a token with OAuth 2.0 client credentials and a JWT client assertion (private_key_jwt), "
            "post score and activity messages, read what became of each. See docs/messages.md."
        ),
        security_schemes={
            "productToken": OAuth2(
                flows=flows,
                description="client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
        },
    )
    found: dict[str, Any] = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
    # Our validation errors are 400s with plain-word problems (ApiError), never powertools' default 422.
    for path in found.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        found.get("components", {}).get("schemas", {}).pop(name, None)
    found["servers"] = [{"url": "https://passback.example.edu", "description": "the stack's PublicBaseUrl"}]
    return found


def document_text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"
