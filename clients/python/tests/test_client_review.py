"""The client under a hostile reviewer (issue 21's review): odd answers and odd ids lose no message."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from passback_client import PassbackClient, PassbackError, activity

from product_kit import register_product

Answer = Callable[[BaseHTTPRequestHandler], None]


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _accepted(handler: BaseHTTPRequestHandler, posted: dict[str, Any]) -> None:
    ids = [m["message_id"] for m in posted["messages"]]
    _reply(handler, 202, json.dumps({"accepted": ids}).encode(), {"Content-Type": "application/json"})


class _Scripted(BaseHTTPRequestHandler):
    """Tokens always; each messages POST takes the next scripted answer (then 202s)."""

    script: list[Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]] = []
    posts: list[dict[str, Any]] = []

    def log_message(self, *_: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/token"):
            token = {"access_token": "t", "token_type": "Bearer", "expires_in": 900, "scope": "scores:write"}
            _reply(self, 200, json.dumps(token).encode(), {"Content-Type": "application/json"})
            return
        posted = json.loads(body)
        type(self).posts.append(posted)
        step = type(self).script.pop(0) if type(self).script else _accepted
        step(self, posted)


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"script": [], "posts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _cut_mid_answer(handler: BaseHTTPRequestHandler, _: dict[str, Any]) -> None:
    handler.send_response(202)
    handler.send_header("Content-Length", "200")
    handler.end_headers()
    handler.wfile.write(b'{"accepted": [')
    handler.wfile.flush()
    handler.close_connection = True


def test_an_answer_cut_off_mid_body_is_retried_and_no_message_is_lost(scripted: tuple[str, Any]) -> None:
    url, handler = scripted
    handler.script = [_cut_mid_answer]
    client = PassbackClient(url, "p", "k", _pem(), sleep=lambda _: None)
    messages = [activity(f"quiz-{i}", "Quiz") for i in range(3)]
    assert client.send(messages) == [m["message_id"] for m in messages]
    assert len(handler.posts) == 2


def test_an_unreadable_202_raises_a_passback_error_with_every_unsent_message(scripted: tuple[str, Any]) -> None:
    url, handler = scripted
    handler.script = [lambda h, _: _reply(h, 202, b"<html>accepted</html>", {"Content-Type": "text/html"})]
    client = PassbackClient(url, "p", "k", _pem(), sleep=lambda _: None)
    messages = [activity(f"quiz-{i}", "Quiz") for i in range(12)]
    with pytest.raises(PassbackError) as raised:
        client.send(messages)
    assert raised.value.unsent == messages
    assert raised.value.accepted == []


@pytest.mark.parametrize("retry_after", ["inf", "nan", "1e12", "-5"])
def test_a_hostile_retry_after_is_capped_and_the_batch_goes_through(
    scripted: tuple[str, Any], retry_after: str
) -> None:
    url, handler = scripted
    limited = b'{"error": "rate_limited", "error_description": "slow down"}'
    handler.script = [lambda h, _: _reply(h, 429, limited, {"Retry-After": retry_after})]
    waits: list[float] = []
    client = PassbackClient(url, "p", "k", _pem(), sleep=waits.append, backoff_cap=20.0)
    messages = [activity("quiz-1", "Quiz")]
    assert client.send(messages) == [messages[0]["message_id"]]
    assert len(waits) == 1
    assert 0.0 <= waits[0] <= 20.0


def test_the_status_of_a_message_id_holding_url_characters_is_that_messages_own(stack: Any) -> None:
    product = register_product(stack.base_url)
    client = PassbackClient(stack.base_url, product.product_id, product.kid, product.private_pem)
    plain = activity("quiz-1", "Quiz 1", message_id="run-7")
    odd = [
        activity(f"quiz-{n}", "Quiz", message_id=f"run-7{tail}") for n, tail in enumerate(["?x=1", "/b", "%41", "é"])
    ]
    client.send([plain])
    for message in odd:
        assert client.status(message["message_id"]) is None  # not the plain one's status
    client.send(odd)
    stack.drain()
    for message in odd:
        found = client.status(message["message_id"])
        assert found is not None, message["message_id"]
        assert found["message_id"] == message["message_id"]
        assert found["status"] == "applied"
