"""An HTTP server on loopback that turns requests into API Gateway (HTTP API, payload 2.0) events."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from passback.local.jwt_authorizer import JwtAuthorizer
from passback.local.runtime import LocalFunction
from passback.local.template import Route

MAX_BODY = 1024 * 1024
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml", "+json", "+xml")


def http_api_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    route: Route,
    path_parameters: dict[str, str],
) -> dict[str, Any]:
    parts = urlsplit(raw_path)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    content_type = lowered.get("content-type", "")
    textual = not body or any(t in content_type for t in _TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not textual,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = body.decode("utf-8", "replace") if textual else base64.b64encode(body).decode("ascii")
    return event


class Gateway:
    def __init__(self, routes: list[tuple[Route, LocalFunction]], host: str, port: int) -> None:
        self.routes = routes
        self._authorizer: JwtAuthorizer | None = None
        gateway = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return  # the handlers log structured lines themselves

            def _serve(self) -> None:
                gateway.serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

        self.server = ThreadingHTTPServer((host, port), RequestHandler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)

    def authorizer(self) -> JwtAuthorizer:
        """The JWT authorizer; its issuer is this gateway's own base URL (PublicBaseUrl locally)."""
        if self._authorizer is None:
            self._authorizer = JwtAuthorizer(f"http://{self.server.server_address[0]!s}:{self.port}")
        return self._authorizer

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to notice: it would wait forever if it never started.
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        path = urlsplit(request.path).path
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(request, 413, {"content-type": "text/plain"}, [], b"request body too large")
            return
        body = request.rfile.read(length) if length else b""
        for route, function in self.routes:
            params = route.matches(method, path)
            if params is None:
                continue
            event = http_api_event(
                method, request.path, dict(request.headers.items()), body, request.client_address[0], route, params
            )
            if route.jwt_audiences:
                verdict = self.authorizer().check(
                    request.headers.get("Authorization"), route.jwt_audiences, route.scopes
                )
                if verdict.status != 200:
                    # API Gateway's own answers: the function never runs.
                    text = b'{"message":"Unauthorized"}' if verdict.status == 401 else b'{"message":"Forbidden"}'
                    self._reply(request, verdict.status, {"content-type": "application/json"}, [], text)
                    return
                event["requestContext"]["authorizer"] = verdict.context
            try:
                result = function.invoke(event)
            except Exception:
                self._reply(
                    request, 500, {"content-type": "application/json"}, [], b'{"message":"Internal Server Error"}'
                )
                return
            self._reply_lambda(request, result)
            return
        self._reply(request, 404, {"content-type": "application/json"}, [], b'{"message":"Not Found"}')

    def _reply_lambda(self, request: BaseHTTPRequestHandler, result: Any) -> None:
        if not isinstance(result, dict) or "statusCode" not in result:
            payload = json.dumps(result).encode()
            self._reply(request, 200, {"content-type": "application/json"}, [], payload)
            return
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ", ".join(str(v) for v in values)
        self._reply(request, int(result["statusCode"]), headers, list(result.get("cookies") or []), body)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], cookies: list[str], body: bytes
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection"):
                request.send_header(name, value)
        for cookie in cookies:
            request.send_header("Set-Cookie", cookie)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
