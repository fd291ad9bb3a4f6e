"""Between powertools' API Gateway event and response, and the plain request and response."""

from __future__ import annotations

import base64
import binascii

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from passback.web.http import HttpRequest, WebResponse, parse_form

MAX_BODY = 256 * 1024


class RawCookie(Cookie):
    """A Set-Cookie value written by us: powertools' Cookie has no `Partitioned` attribute."""

    def __init__(self, raw: str) -> None:
        name, _, rest = raw.partition("=")
        super().__init__(name=name, value=rest.split(";", 1)[0])
        self.raw = raw

    def __str__(self) -> str:
        return self.raw


def _body_text(event: APIGatewayProxyEventV2) -> str:
    # API Gateway base64-encodes a body it does not take for text; powertools' decoded_body then
    # decodes it as strict UTF-8, and a stray byte became a 500. Such a body is no form we accept,
    # so undecodable bytes are replaced and the form checks refuse it in words.
    if not event.is_base64_encoded:
        return event.body or ""
    try:
        return base64.b64decode(event.body or "").decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def request_of(event: APIGatewayProxyEventV2) -> HttpRequest:
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    body = _body_text(event)
    if len(body) > MAX_BODY:
        body = ""
    cookies: dict[str, str] = {}
    for raw in event.cookies or []:
        name, _, value = raw.strip().partition("=")
        cookies.setdefault(name, value)
    forwarded = (headers.get("x-forwarded-proto") or "").lower()
    return HttpRequest(
        method=event.request_context.http.method,
        path=event.raw_path,
        query=dict(event.query_string_parameters or {}),
        form=parse_form(body, headers.get("content-type")),
        headers=headers,
        cookies=cookies,
        request_id=event.request_context.request_id,
        secure=forwarded == "https",
        raw_body=body,
    )


def response_of(web: WebResponse) -> Response[str]:
    return Response(
        status_code=web.status,
        content_type=web.content_type,
        body=web.body,
        headers=web.headers,
        cookies=[RawCookie(c) for c in web.cookies],
    )
