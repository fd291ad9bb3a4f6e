"""GET /.well-known/jwks.json: the tool's public keys, for LMSs and products."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback import container

router = APIGatewayHttpRouter()


@router.get("/.well-known/jwks.json")
def jwks() -> Response[str]:
    return Response(
        200,
        content_types.APPLICATION_JSON,
        json.dumps(container.tool_keys().jwks()),
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )
