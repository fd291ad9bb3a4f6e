"""Shared pieces of the LMS emulator tests: constants, a tiny fake LTI tool, and seeding.

The fake tool is a real HTTP server on 127.0.0.1: it answers the login initiation with a 302 to
the platform's /auth, records the id_token POSTed back, and serves its own JWKS for client
assertions. The module name is unusual on purpose: test helpers share one import namespace.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.emulator import EmulatorClient, LmsEmulator
from passback.emulator.claims import AGS_SCOPES, SCOPE_NRPS
from passback.emulator.keys import public_jwk

CLIENT_ID = "passback-client"
DEPLOYMENT_ID = "deployment-1"
CONSUMER_KEY = "passback-consumer"
CONSUMER_SECRET = "s3cret-for-tests"
COURSE = "course-101"
STUDENT = "student-1"
INSTRUCTOR = "teacher-1"
LINK = "link-quiz-1"
CONTAINER_LINK = "link-container"
NO_AGS_LINK = "link-no-ags"


@dataclass
class Launch:
    id_token: str
    state: str
    state_cookie_matched: bool


@dataclass
class FakeTool:
    """A minimal LTI 1.3 tool: login (302 to /auth), launch (records id_token) and JWKS."""

    key: rsa.RSAPrivateKey
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    auth_url: str = ""
    client_id: str = CLIENT_ID
    redirect_uri_override: str | None = None
    login_style: str = "302"
    launches: list[Launch] = field(default_factory=list)
    lti11_launches: list[dict[str, str]] = field(default_factory=list)
    nonces: dict[str, str] = field(default_factory=dict)
    jwks_fetches: int = 0
    base_url: str = ""
    server: ThreadingHTTPServer | None = None

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/login"

    @property
    def launch_url(self) -> str:
        return f"{self.base_url}/launch"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"

    @property
    def lti11_url(self) -> str:
        return f"{self.base_url}/lti11"

    def auth_redirect(self, params: dict[str, str]) -> tuple[str, str]:
        """The /auth URL the tool sends the browser to, and the state it expects back."""
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        self.nonces[state] = nonce
        query = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": params.get("client_id", self.client_id),
            "redirect_uri": self.redirect_uri_override or self.launch_url,
            "login_hint": params["login_hint"],
            "lti_message_hint": params.get("lti_message_hint", ""),
            "state": state,
            "nonce": nonce,
        }
        return f"{self.auth_url}?{urlencode(query)}", state

    def client_assertion(self, audience: str | list[str], **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        # An override of None removes the claim, to test assertions that lack it.
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def login_page(style: str, target: str) -> str:
    """The ways a tool's login may send the browser on without a 3xx."""
    if style == "js":
        return f'<html><script>window.location="{target}";</script></html>'
    if style == "form":
        action, _, query = target.partition("?")
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v[0])}">'
            for k, v in parse_qs(query).items()
        )
        return f'<html><form method="post" action="{html.escape(action)}">{fields}</form></html>'
    return f'<html><head><meta http-equiv="refresh" content="0; url={html.escape(target)}"></head></html>'


def _make_handler(tool: FakeTool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _params(self) -> dict[str, str]:
            query = parse_qs(urlsplit(self.path).query)
            length = int(self.headers.get("Content-Length", "0") or "0")
            body = parse_qs(self.rfile.read(length).decode()) if length else {}
            return {k: v[0] for k, v in {**query, **body}.items()}

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def _route(self) -> None:
            path = urlsplit(self.path).path
            params = self._params()
            if path == "/jwks":
                tool.jwks_fetches += 1
                body = json.dumps({"keys": [public_jwk(tool.key, tool.kid)]}).encode()
                self._send(200, body, {"Content-Type": "application/json"})
            elif path == "/login":
                target, state = tool.auth_redirect(params)
                cookie = {"Set-Cookie": f"tool_state={state}; Path=/"}
                if tool.login_style == "302":
                    self._send(302, b"", {"Location": target, **cookie})
                elif tool.login_style == "cookie-check" and "lti1p3_new_window" not in params:
                    page = "<script>var urlParams = {'lti1p3_new_window': '1'};</script>"
                    self._send(200, page.encode(), {"Content-Type": "text/html"})
                else:
                    self._send(
                        200,
                        login_page(tool.login_style, target).encode(),
                        {"Content-Type": "text/html", **cookie},
                    )
            elif path == "/launch":
                cookies = self.headers.get("Cookie", "")
                tool.launches.append(
                    Launch(
                        params.get("id_token", ""),
                        params.get("state", ""),
                        f"tool_state={params.get('state')}" in cookies,
                    )
                )
                self._send(200, b"launched", {"Content-Type": "text/plain"})
            elif path == "/lti11":
                tool.lti11_launches.append(params)
                self._send(302, b"", {"Location": "/app"})
            else:
                self._send(404, b"not found")

    return Handler


@contextmanager
def running_fake_tool(key: rsa.RSAPrivateKey) -> Iterator[FakeTool]:
    tool = FakeTool(key=key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(tool))
    server.daemon_threads = True
    tool.server = server
    tool.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield tool
    finally:
        server.shutdown()
        server.server_close()


def seed(emu: LmsEmulator | EmulatorClient, tool: FakeTool) -> None:
    """One tool, one course, a student and an instructor, and links of the three AGS kinds."""
    emu.register_tool(
        CLIENT_ID,
        login_url=tool.login_url,
        launch_url=tool.launch_url,
        jwks_url=tool.jwks_url,
        deployment_ids=[DEPLOYMENT_ID],
        lti11_consumer_key=CONSUMER_KEY,
        lti11_secret=CONSUMER_SECRET,
    )
    tool.auth_url = emu.auth_url
    emu.add_course(COURSE, "Intro to Testing")
    emu.add_user(STUDENT, name="Ada Lovelace", email="ada@example.edu", roles=["student"])
    emu.add_user(INSTRUCTOR, name="Grace Hopper", email="grace@example.edu", roles=["instructor"])
    emu.enroll(COURSE, STUDENT, "student")
    emu.enroll(COURSE, INSTRUCTOR, "instructor")
    emu.add_link(COURSE, LINK, title="Quiz 1", custom={"activity_id": "quiz-1"}, line_item=True, score_maximum=10)
    emu.add_link(COURSE, CONTAINER_LINK, title="Essay", line_item="container_only")
    emu.add_link(COURSE, NO_AGS_LINK, title="Reading", line_item=False)


def request_token(emu: LmsEmulator | EmulatorClient, tool: FakeTool, scopes: list[str] | None = None) -> str:
    """An access token obtained with a properly signed client assertion."""
    response = requests.post(
        emu.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": tool.client_assertion(emu.token_url),
            "scope": " ".join(scopes or [*AGS_SCOPES, SCOPE_NRPS]),
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
