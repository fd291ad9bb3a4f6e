"""Plain HTTP request and response values, so LTI validation does not depend on the event's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    request_id: str = ""
    secure: bool = False
    raw_body: str = ""

    def param(self, name: str) -> str | None:
        """A form field, else a query parameter (OIDC login may be GET or POST)."""
        value = self.form.get(name)
        return value if value is not None else self.query.get(name)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class WebResponse:
    status: int
    body: str = ""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)


def parse_form(body: str, content_type: str | None) -> dict[str, str]:
    if not body or "application/x-www-form-urlencoded" not in (content_type or ""):
        return {}
    form: dict[str, str] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        form.setdefault(key, value)
    return form


def public_base_url(request: HttpRequest) -> str:
    """The tool's base URL: the configured one, else the one this request came in on (API Gateway's)."""
    from passback.settings import get_settings

    configured = get_settings().base_url
    if configured:
        return configured
    host = request.header("host") or "localhost"
    scheme = request.header("x-forwarded-proto") or ("https" if request.secure else "http")
    return f"{scheme}://{host}"
