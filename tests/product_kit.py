"""Products for tests: register one (with a key pair), get tokens, post to the score API."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from passback import container
from passback.clock import utcnow
from passback.ids import platform_id, platform_key_lti13

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Product:
    base_url: str
    product_id: str
    kid: str
    private_pem: str

    def assertion(self, **override: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.product_id,
            "sub": self.product_id,
            "aud": f"{self.base_url}/api/v1/token",
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
            **override,
        }
        return jwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid})

    def token_response(self, assertion: str | None = None, scope: str | None = None) -> requests.Response:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or self.assertion(),
        }
        if scope is not None:
            form["scope"] = scope
        return requests.post(f"{self.base_url}/api/v1/token", data=form, timeout=60)

    def token(self, scope: str | None = None) -> str:
        answer = self.token_response(scope=scope)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def post(self, messages: list[Any], token: str | None = None) -> requests.Response:
        return requests.post(
            f"{self.base_url}/api/v1/messages",
            json={"messages": messages},
            headers={"Authorization": f"Bearer {token or self.token()}"},
            timeout=60,
        )

    def status(self, message_id: str, token: str | None = None) -> requests.Response:
        return requests.get(
            f"{self.base_url}/api/v1/messages/{message_id}",
            headers={"Authorization": f"Bearer {token or self.token()}"},
            timeout=60,
        )

    def rotate(self) -> Product:
        made = container.product_admin().rotate(self.product_id, public_pem=None, now=utcnow())
        assert made.private_pem is not None
        return Product(self.base_url, self.product_id, made.kid, made.private_pem)


def register_product(
    base_url: str, name: str = "quiz-app", *, issuers: tuple[str, ...] = (), rate: int = 100
) -> Product:
    made = container.product_admin().add(
        name,
        platform_ids=[platform_id(platform_key_lti13(i)) for i in issuers],
        public_pem=None,
        rate_per_second=rate,
        now=utcnow(),
    )
    assert made.private_pem is not None
    return Product(base_url, made.product_id, made.kid, made.private_pem)
