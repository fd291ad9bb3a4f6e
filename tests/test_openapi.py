"""docs/openapi.json is what the code generates, and it says what the API does."""

from __future__ import annotations

import json
from pathlib import Path

from passback.api.openapi import document, document_text

DOC = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def test_the_published_openapi_document_matches_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == document_text(), "run `passback openapi` and commit docs/openapi.json"


def test_the_openapi_document_names_every_route_answer_and_the_token_flow() -> None:
    found = document()
    post = found["paths"]["/api/v1/messages"]["post"]
    assert set(post["responses"]) == {"202", "400", "401", "403", "413", "415", "429", "503"}
    assert post["security"] == [{"productToken": ["scores:write"]}]
    assert "422" not in json.dumps(found["paths"])
    get = found["paths"]["/api/v1/messages/{message_id}"]["get"]
    assert get["security"] == [{"productToken": ["scores:read"]}]
    flow = found["components"]["securitySchemes"]["productToken"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/api/v1/token"
    assert "/.well-known/openid-configuration" not in found["paths"]
