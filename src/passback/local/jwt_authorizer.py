"""API Gateway's JWT authorizer, locally: the same checks, before any function runs.

What HTTP APIs do with a route that has a JWT authorizer: read the bearer token from the
Authorization header; find the issuer's key set through `{issuer}/.well-known/openid-configuration`;
check the signature (RS256), `iss` (exactly the configured issuer), `aud` (one of the configured
audiences), `exp`/`nbf`, and that `scope` holds at least one of the route's scopes. A missing or
bad token is 401 `{"message":"Unauthorized"}`, a missing scope 403 `{"message":"Forbidden"}`;
the claims reach the function as `requestContext.authorizer.jwt`. Locally the issuer is the
stack's own base URL (what PublicBaseUrl is in a deployment).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

_KEYS_SECONDS = 300.0


@dataclass(frozen=True)
class Verdict:
    status: int  # 200 (let through), 401 or 403
    context: dict[str, Any] | None = None


class JwtAuthorizer:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer.rstrip("/")
        self._keys: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def check(self, authorization: str | None, audiences: tuple[str, ...], scopes: tuple[str, ...]) -> Verdict:
        import jwt

        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Verdict(401)
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            jwk = self._key(str(kid))
            if jwk is None:
                return Verdict(401)
            claims = jwt.decode(
                token,
                jwt.PyJWK(jwk).key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=list(audiences),
                options={"require": ["exp", "iss"]},
            )
        except (jwt.InvalidTokenError, OSError, ValueError):
            return Verdict(401)
        granted = str(claims.get("scope") or claims.get("scp") or "").split()
        if scopes and not set(scopes) & set(granted):
            return Verdict(403)
        stringified = {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
        return Verdict(200, {"jwt": {"claims": stringified, "scopes": granted}})

    def _key(self, kid: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._keys
        if cached is None or time.monotonic() - cached[0] > _KEYS_SECONDS or kid not in cached[1]:
            cached = (time.monotonic(), self._fetch())
            with self._lock:
                self._keys = cached
        return cached[1].get(kid)

    def _fetch(self) -> dict[str, Any]:
        discovery = _get_json(f"{self.issuer}/.well-known/openid-configuration")
        keys = _get_json(str(discovery["jwks_uri"])).get("keys", [])
        return {str(k.get("kid")): k for k in keys if isinstance(k, dict)}


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the local stack's own URL
        found = json.loads(answer.read().decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError(f"{url} did not return a JSON object")
    return found
