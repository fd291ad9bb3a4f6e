"""A hostile or broken LMS paging answer (`Link: rel="next"`) never gets the tool's token elsewhere nor loops.

Real HTTP servers on 127.0.0.1 play the LMS and "another host" (another port: another origin);
the real AgsClient, Http and PlatformGate send the requests. Only the token cache is a stand-in
(a fixed bearer token), since what is under test is where that token goes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from passback.lms.ags import AgsClient
from passback.lms.errors import LmsError
from passback.lms.http import Http, PlatformGate
from passback.lms.line_items import LineItemsClient
from passback.lms.roster import RosterClient
from passback.lms.tokens import TokenEndpoint

TOKEN = "secret-bearer-token"


class _Tokens:
    def token(self, endpoint: TokenEndpoint, scopes: tuple[str, ...], **_: Any) -> str:
        return TOKEN

    def refused(self, *_: Any) -> None:
        pass


class Server:
    def __init__(self, answer: Callable[[str], tuple[Any, str | None]]) -> None:
        self.seen: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Authorization")))
                body, link = answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if link:
                    self.send_header("Link", f'<{link}>; rel="next"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[dict[str, Server]]:
    made: dict[str, Server] = {}
    yield made
    for server in made.values():
        server.close()


def _ags() -> AgsClient:
    return AgsClient(Http(timeout=5), PlatformGate(4), _Tokens())  # type: ignore[arg-type]


ENDPOINT = TokenEndpoint(platform_id="p", token_url="http://127.0.0.1:9/token", client_id="c")


def test_a_roster_next_link_on_another_host_never_receives_the_token(servers: dict[str, Server]) -> None:
    servers["other"] = Server(lambda _path: ({"members": [{"user_id": "x", "roles": []}]}, None))
    servers["lms"] = Server(
        lambda _path: ({"members": [{"user_id": "u1", "roles": []}]}, servers["other"].base + "/steal")
    )
    with pytest.raises(LmsError, match="another host") as refused:
        RosterClient(_ags()).members(ENDPOINT, servers["lms"].base + "/members")
    assert not refused.value.retryable
    assert servers["other"].seen == []
    assert servers["lms"].seen[0][1] == f"Bearer {TOKEN}"


def test_a_line_item_next_link_on_another_host_never_receives_the_token(servers: dict[str, Server]) -> None:
    servers["other"] = Server(lambda _path: ([], None))
    servers["lms"] = Server(lambda _path: ([], servers["other"].base + "/steal"))
    with pytest.raises(LmsError, match="another host"):
        LineItemsClient(_ags()).list(ENDPOINT, servers["lms"].base + "/lineitems", {}, scopes=("s",))
    assert servers["other"].seen == []


def test_a_roster_whose_next_link_loops_is_refused_after_one_repeat(servers: dict[str, Server]) -> None:
    def answer(path: str) -> tuple[Any, str | None]:
        return {"members": [{"user_id": "u1", "roles": []}]}, servers["lms"].base + "/members?page=2"

    servers["lms"] = Server(answer)
    with pytest.raises(LmsError, match="loop"):
        RosterClient(_ags()).members(ENDPOINT, servers["lms"].base + "/members")
    assert len(servers["lms"].seen) == 2  # the first page and page 2; page 2 again is not asked for


def test_a_column_list_longer_than_the_page_cap_is_an_error_not_a_partial_list(servers: dict[str, Server]) -> None:
    # A partial list would miss the link's column and make the launch create a second one.
    def answer(path: str) -> tuple[Any, str | None]:
        number = int(path.rsplit("=", 1)[-1]) if "page=" in path else 0
        return [], servers["lms"].base + f"/lineitems?page={number + 1}"

    servers["lms"] = Server(answer)
    with pytest.raises(LmsError, match="more than"):
        LineItemsClient(_ags()).list(ENDPOINT, servers["lms"].base + "/lineitems", {}, scopes=("s",))


def test_a_roster_answer_without_a_members_list_is_an_error_not_an_empty_roster(servers: dict[str, Server]) -> None:
    # Taken for an empty roster, it would mark every learner of the course gone.
    servers["lms"] = Server(lambda _path: ({"id": "x", "context": {"id": "c"}}, None))
    with pytest.raises(LmsError, match="no members list"):
        RosterClient(_ags()).members(ENDPOINT, servers["lms"].base + "/members")
