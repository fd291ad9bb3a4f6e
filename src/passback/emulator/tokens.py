"""OAuth2 client credentials with a JWT client assertion (the LTI 1.3 token endpoint), and the
bearer-token check every AGS/NRPS endpoint uses."""

from __future__ import annotations

import secrets
from typing import Any

import jwt
import requests

from .claims import GRANTABLE_SCOPES
from .lms import Lms
from .net import OUTBOUND_TIMEOUT_S, require_loopback_url
from .state import AccessToken
from .wire import HttpError, Request, Response, json_response, oauth_error

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
IAT_LEEWAY_S = 60


class InvalidClientError(Exception):
    """The client assertion does not prove who the client is."""


class ToolKeyCache:
    """The tools' public keys, fetched from their JWKS URLs and refetched when a kid is unknown."""

    def __init__(self, lms: Lms) -> None:
        self._lms = lms
        self._lock = lms.state.lock
        self._keys: dict[str, dict[str, jwt.PyJWK]] = {}

    def key(self, jwks_url: str, kid: str) -> jwt.PyJWK:
        with self._lock:
            cached = self._keys.get(jwks_url, {})
        if kid in cached:
            return cached[kid]
        fetched = self._fetch(jwks_url)
        with self._lock:
            self._keys[jwks_url] = fetched
        if kid not in fetched:
            raise InvalidClientError(f"no key with kid {kid!r} in the tool's JWKS")
        return fetched[kid]

    def _fetch(self, jwks_url: str) -> dict[str, jwt.PyJWK]:
        self._lms.stats.count("tool_jwks_fetch")
        try:
            response = requests.get(require_loopback_url(jwks_url), timeout=OUTBOUND_TIMEOUT_S)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise InvalidClientError(f"could not fetch the tool's JWKS from {jwks_url}: {exc}") from exc
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if isinstance(entry, dict) and entry.get("kid"):
                try:
                    keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm="RS256")
                except jwt.PyJWTError:
                    continue
        return keys


def verify_client_assertion(lms: Lms, cache: ToolKeyCache, assertion: str) -> str:
    """Return the client_id the assertion proves, or raise InvalidClientError."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidClientError(f"client assertion is not a JWT: {exc}") from exc
    if header.get("alg") != "RS256":
        raise InvalidClientError("client assertion must be signed with RS256")
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or unverified.get("sub") != client_id:
        raise InvalidClientError("client assertion iss and sub must both be the client_id")
    with lms.state.lock:
        tool = lms.state.tools.get(client_id)
    if tool is None:
        raise InvalidClientError(f"unknown client_id {client_id!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidClientError("client assertion header has no kid")
    key = cache.key(tool.jwks_url, kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            audience=[lms.urls.token, lms.issuer],
            options={
                "require": ["iss", "sub", "aud", "exp", "iat", "jti"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidClientError(f"client assertion rejected: {exc}") from exc
    now = lms.state.now()
    # exp and iat are checked here rather than by PyJWT because they need different leeways.
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= now:
        raise InvalidClientError("client assertion has expired")
    if not isinstance(claims["iat"], int | float) or claims["iat"] > now + IAT_LEEWAY_S:
        raise InvalidClientError("client assertion was issued in the future")
    jti = str(claims["jti"])
    with lms.state.lock:
        if (client_id, jti) in lms.state.used_jtis:
            raise InvalidClientError("client assertion jti was already used")
        lms.state.used_jtis.add((client_id, jti))
    return client_id


def _token_request_assertion(request: Request) -> str:
    if request.content_type != "application/x-www-form-urlencoded":
        raise HttpError(oauth_error(400, "invalid_request", "the token request must be form-encoded"))
    form = request.form_params()
    if form.get("grant_type") != "client_credentials":
        raise HttpError(oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials"))
    if form.get("client_assertion_type") != JWT_BEARER:
        raise HttpError(oauth_error(400, "invalid_request", f"client_assertion_type must be {JWT_BEARER}"))
    assertion = form.get("client_assertion")
    if not assertion:
        raise HttpError(oauth_error(400, "invalid_request", "client_assertion is missing"))
    return assertion


def handle_token(lms: Lms, cache: ToolKeyCache, request: Request) -> Response:
    assertion = _token_request_assertion(request)
    try:
        client_id = verify_client_assertion(lms, cache, assertion)
    except InvalidClientError as exc:
        return oauth_error(401, "invalid_client", str(exc))
    requested = request.form_params().get("scope", "").split()
    granted = [scope for scope in dict.fromkeys(requested) if scope in GRANTABLE_SCOPES]
    if not granted:
        return oauth_error(400, "invalid_scope", "none of the requested scopes can be granted")
    token = secrets.token_urlsafe(32)
    with lms.state.lock:
        lms.state.access_tokens[token] = AccessToken(
            client_id=client_id,
            scopes=frozenset(granted),
            expires_at=lms.state.now() + lms.token_lifetime,
            epoch=lms.state.token_epoch,
        )
    return json_response(
        200,
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lms.token_lifetime,
            "scope": " ".join(granted),
        },
    )


def authenticate(lms: Lms, request: Request, accepted_scopes: frozenset[str]) -> AccessToken | Response:
    """The access token on the request if it is valid and holds one of `accepted_scopes`."""
    scheme, _, token = request.header("authorization").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return oauth_error(401, "invalid_token", "a Bearer access token is required")
    with lms.state.lock:
        grant = lms.state.access_tokens.get(token.strip())
        epoch = lms.state.token_epoch
    if grant is None:
        return oauth_error(401, "invalid_token", "unknown access token")
    if grant.epoch < epoch or grant.expires_at <= lms.state.now():
        return oauth_error(401, "invalid_token", "the access token has expired")
    if not grant.scopes & accepted_scopes:
        return oauth_error(401, "insufficient_scope", "the access token lacks the scope this call needs")
    return grant
