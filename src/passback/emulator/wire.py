"""Plain request/response values passed between the HTTP server and the endpoint handlers.

Handlers never touch sockets: they take a `Request` and return a `Response`, which keeps them
testable and lets the server apply faults and bookkeeping in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def content_type(self) -> str:
        """The media type without parameters such as charset, lower-cased."""
        return self.header("content-type").split(";", 1)[0].strip().lower()

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def query_params(self) -> dict[str, str]:
        return first_values(parse_qs(self.query, keep_blank_values=True))

    def form_params(self) -> dict[str, str]:
        return first_values(parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def first_values(multi: dict[str, list[str]]) -> dict[str, str]:
    # Repeated parameters are an attack surface we do not need: the first value wins.
    return {key: values[0] for key, values in multi.items() if values}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, content_type: str = "application/json") -> Response:
    return Response(status, json.dumps(payload).encode("utf-8"), content_type)


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"))


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode("utf-8"), "text/html; charset=utf-8")


def oauth_error(status: int, error: str, description: str) -> Response:
    response = json_response(status, {"error": error, "error_description": description})
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


class HttpError(Exception):
    """Raised by an endpoint to stop and answer `response`; the router turns it into the reply."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response
