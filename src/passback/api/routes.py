"""The product API's routes, on powertools' event handler (which also generates the OpenAPI document).

API Gateway's JWT authorizer has checked the access token of /api/v1/messages routes before this
code runs (the local gateway does the same checks); the claims arrive in the request context.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Form, Path

from passback import container
from passback.api.models import Accepted, ApiError, MessagesRequest, MessageStatusBody, TokenError, TokenResponse
from passback.clock import utcnow
from passback.domain.products import MAX_BODY_BYTES, MAX_MESSAGES, SCOPE_READ, SCOPE_WRITE, Problem, explain
from passback.services.product_api import ApiRefused, Caller, discovery
from passback.settings import get_settings

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store"}
_REFUSALS: dict[int, Any] = {
    401: {
        "description": "the token is missing, invalid, expired or its credential revoked",
        "content": {JSON: {"model": ApiError}},
    },
    403: {
        "description": "a message names an activity or learner outside this product's scope",
        "content": {JSON: {"model": ApiError}},
    },
}


def issuer(app: APIGatewayHttpResolver) -> str:
    """The token issuer: the configured public base URL, else the URL this request came in on."""
    configured = get_settings().base_url
    if configured:
        return configured.rstrip("/")
    headers = app.current_event.headers or {}
    host = headers.get("host") or app.current_event.request_context.domain_name or "localhost"
    scheme = headers.get("x-forwarded-proto") or ("http" if host.startswith(("127.0.0.1", "localhost")) else "https")
    return f"{scheme}://{host}"


def refusal(error: ApiRefused) -> Response[str]:
    return Response(error.status, JSON, json.dumps(error.body()), headers={**NO_STORE, **error.headers})


@cache
def api() -> APIGatewayHttpResolver:
    # Annotations are strings (postponed): powertools resolves them in this module's globals, so the
    # parameter markers (Form, Path) and models are imported at module level.
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=_loads)

    def caller(scope: str) -> Caller:
        authorizer = app.current_event.raw_event.get("requestContext", {}).get("authorizer", {})
        claims = (authorizer.get("jwt") or {}).get("claims") or {}
        found = container.message_intake().caller(claims)
        if scope not in found.scopes:  # the authorizer checked it already; a second look costs nothing
            raise ApiRefused(403, "insufficient_scope", f"this token lacks the {scope} scope")
        return found

    def precheck() -> Caller:
        """Credentials first (401), then size (413), before anything about the messages."""
        found = caller(SCOPE_WRITE)
        body = app.current_event.decoded_body or ""
        if len(body.encode("utf-8")) > MAX_BODY_BYTES:
            raise ApiRefused(413, "too_large", f"a request body may hold at most {MAX_BODY_BYTES} bytes: split it")
        messages = _messages_of(body)
        if len(messages) > MAX_MESSAGES:
            raise ApiRefused(413, "too_large", f"at most {MAX_MESSAGES} messages per request: split the batch")
        return found

    @app.exception_handler(ApiRefused)  # type: ignore[untyped-decorator]
    def refused(error: ApiRefused) -> Response[str]:
        return refusal(error)

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def unsupported(_: RequestUnsupportedContentType) -> Response[str]:
        expected = "application/x-www-form-urlencoded" if app.current_event.path.endswith("/token") else JSON
        return refusal(ApiRefused(415, "unsupported_media_type", f"send the body as Content-Type: {expected}"))

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid(error: RequestValidationError) -> Response[str]:
        path = app.current_event.path
        if path.endswith("/token"):
            missing = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))} is required" for e in error.errors())
            return refusal(ApiRefused(400, "invalid_request", missing or "bad token request"))
        if path.endswith("/messages") and app.current_event.http_method == "POST":
            try:
                precheck()
            except ApiRefused as first:
                return refusal(first)
            bodies = _messages_of(app.current_event.decoded_body or "")
            problems = explain(error.errors(), bodies)
            if not problems:
                problems = [Problem(-1, None, "body", "must be a JSON object with a messages list")]
            return refusal(ApiRefused(400, "invalid", "some messages are not valid: none was accepted", problems))
        return refusal(ApiRefused(400, "invalid_request", "bad request"))

    @app.get("/.well-known/openid-configuration", include_in_schema=False)
    def openid_configuration() -> Response[str]:
        return Response(200, JSON, json.dumps(discovery(issuer(app))), headers={"Cache-Control": "max-age=300"})

    @app.post(
        "/api/v1/token",
        summary="Get an access token (OAuth 2.0 client credentials, private_key_jwt)",
        responses={
            200: {"description": "an access token", "content": {JSON: {"model": TokenResponse}}},
            400: {"description": "a malformed request", "content": {JSON: {"model": TokenError}}},
            401: {"description": "the client assertion was refused", "content": {JSON: {"model": TokenError}}},
        },
        tags=["auth"],
    )
    def token(
        grant_type: Annotated[str, Form(description="client_credentials")],
        client_assertion_type: Annotated[
            str, Form(description="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        ],
        client_assertion: Annotated[str, Form(description="a JWT signed with one of the product's live keys")],
        scope: Annotated[str | None, Form(description="scores:write scores:read (default: both)")] = None,
    ) -> Response[TokenResponse]:
        form = {
            "grant_type": grant_type,
            "client_assertion_type": client_assertion_type,
            "client_assertion": client_assertion,
            "scope": scope or "",
        }
        answer = container.product_tokens().issue(form, issuer=issuer(app), now=utcnow())
        return Response(200, JSON, TokenResponse(**answer), headers=dict(NO_STORE))

    @app.post(
        "/api/v1/messages",
        summary="Post score and activity messages",
        status_code=202,
        responses={
            202: {"description": "all accepted and queued", "content": {JSON: {"model": Accepted}}},
            400: {
                "description": "every problem of every refused message; none was accepted",
                "content": {JSON: {"model": ApiError}},
            },
            **_REFUSALS,
            413: {"description": "more than 10 messages or 256 KiB", "content": {JSON: {"model": ApiError}}},
            415: {"description": "the body is not sent as application/json", "content": {JSON: {"model": ApiError}}},
            429: {
                "description": "over the product's rate limit: retry after Retry-After seconds",
                "content": {JSON: {"model": ApiError}},
            },
            503: {
                "description": "the queue did not take the batch; none was accepted: retry after Retry-After seconds",
                "content": {JSON: {"model": ApiError}},
            },
        },
        security=[{"productToken": [SCOPE_WRITE]}],
        tags=["messages"],
    )
    def post_messages(body: MessagesRequest) -> Response[Accepted]:
        found = precheck()
        ids = container.message_intake().submit(found, body.messages, utcnow())
        return Response(202, JSON, Accepted(accepted=ids), headers=dict(NO_STORE))

    @app.get(
        "/api/v1/messages/<message_id>",
        summary="What became of a message this product posted",
        responses={
            200: {"description": "the message's status", "content": {JSON: {"model": MessageStatusBody}}},
            404: {
                "description": "this product posted no message with this id (in the last 14 days)",
                "content": {JSON: {"model": ApiError}},
            },
            **_REFUSALS,
        },
        security=[{"productToken": [SCOPE_READ]}],
        tags=["messages"],
    )
    def get_message(
        message_id: Annotated[str, Path(min_length=1, max_length=768, description="the message id, percent-encoded")],
    ) -> Response[MessageStatusBody]:
        # The gateway hands the path segment over still percent-encoded; an id may hold '?', '/' or '%'.
        found = container.message_intake().status(caller(SCOPE_READ), unquote(message_id))
        if found is None:
            raise ApiRefused(404, "not_found", "this product posted no message with this id (in the last 14 days)")
        body = MessageStatusBody(
            message_id=found.message_id,
            status=found.status,  # type: ignore[arg-type]
            reason=found.reason,
            detail=found.detail,
            accepted_at=found.accepted_at,
            updated_at=found.updated_at,
        )
        return Response(200, JSON, body, headers=dict(NO_STORE))

    return app


def _loads(body: str) -> Any:
    """json.loads whose every failure is a JSONDecodeError, which powertools answers as a 400.

    A body nesting too deeply (RecursionError) or holding a number of thousands of digits (ValueError)
    otherwise escaped powertools' handling as a 500.
    """
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as error:
        reason = "it nests too deeply" if isinstance(error, RecursionError) else "a number in it is too long"
        raise json.JSONDecodeError(f"not a message: {reason}", body, 0) from None


def _messages_of(body: str) -> list[Any]:
    try:
        parsed = _loads(body)
    except json.JSONDecodeError:
        return []
    messages = parsed.get("messages") if isinstance(parsed, dict) else None
    return messages if isinstance(messages, list) else []
