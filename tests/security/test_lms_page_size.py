"""A paged LMS answer (NRPS members, AGS line items) is read into memory only up to a bound.

A real HTTP server on 127.0.0.1 plays the LMS, answering a page far larger than the cap, with or
without a Content-Length (a body that simply runs on until the connection closes); the real
AgsClient, Http and PlatformGate read it. The caps are lowered for the test, the reading code is not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from passback.lms import line_items, roster
from passback.lms.ags import AgsClient
from passback.lms.errors import LmsError
from passback.lms.http import Http, PlatformGate
from passback.lms.line_items import LineItemsClient
from passback.lms.roster import RosterClient
from passback.lms.tokens import TokenEndpoint

CAP = 50_000


class _Tokens:
    def token(self, endpoint: TokenEndpoint, scopes: tuple[str, ...], **_: Any) -> str:
        return "bearer"

    def refused(self, *_: Any) -> None:
        pass


class HugeLms:
    """Answers every GET with a JSON page of `size` bytes; `declare` says whether it sends Content-Length."""

    def __init__(self, size: int, *, declare: bool) -> None:
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # without Content-Length the body runs until the connection closes

            def do_GET(self) -> None:
                if "memberships" in self.path:
                    body = {"members": [{"user_id": f"u{n:06d}", "status": "Active"} for n in range(size // 40)]}
                else:
                    body = [{"id": f"http://x/li/{n}", "label": "x" * 20} for n in range(size // 40)]
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if declare:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for start in range(0, len(data), 16384):
                        self.wfile.write(data[start : start + 16384])
                        outer.sent += 16384
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what is under test

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(params=[True, False], ids=["content-length", "no-content-length"])
def huge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[HugeLms]:
    monkeypatch.setattr(roster, "MAX_PAGE_BYTES", CAP)
    monkeypatch.setattr(line_items, "MAX_PAGE_BYTES", CAP)
    server = HugeLms(40 * CAP, declare=request.param)
    yield server
    server.close()


def _ags() -> AgsClient:
    return AgsClient(Http(timeout=5), PlatformGate(4), _Tokens())  # type: ignore[arg-type]


ENDPOINT = TokenEndpoint(platform_id="p", token_url="http://127.0.0.1:9/token", client_id="c")


def test_a_roster_page_larger_than_the_cap_is_refused_not_read_whole(huge: HugeLms) -> None:
    with pytest.raises(LmsError, match="larger than") as raised:
        RosterClient(_ags()).members(ENDPOINT, f"{huge.base}/memberships")
    assert not raised.value.retryable


def test_a_line_item_page_larger_than_the_cap_is_refused(huge: HugeLms) -> None:
    with pytest.raises(LmsError, match="larger than"):
        LineItemsClient(_ags()).list(ENDPOINT, f"{huge.base}/line_items", {}, scopes=("s",))


def test_a_line_item_read_for_a_relabel_larger_than_the_cap_is_refused(huge: HugeLms) -> None:
    """The relabel job's GET of one column (services/column_labels.py) is bounded like the pages."""
    with pytest.raises(LmsError, match="larger than"):
        LineItemsClient(_ags()).relabel(ENDPOINT, f"{huge.base}/line_items/1", "New title", resource_id="quiz-1")


def test_a_roster_longer_than_the_member_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    server = HugeLms(CAP, declare=True)
    monkeypatch.setattr(roster, "MAX_MEMBERS", 100)
    try:
        with pytest.raises(LmsError, match="more than 100 members"):
            RosterClient(_ags()).members(ENDPOINT, f"{server.base}/memberships")
    finally:
        server.close()


def test_a_page_within_the_cap_reads_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster, "MAX_PAGE_BYTES", CAP)
    server = HugeLms(CAP // 2, declare=False)
    try:
        found = RosterClient(_ags()).members(ENDPOINT, f"{server.base}/memberships")
    finally:
        server.close()
    assert len(found) == (CAP // 2) // 40
