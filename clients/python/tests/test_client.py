"""passback_client against the local stack: batches, statuses, schema checks, a 429 storm, retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from passback_client import DeliveryFailed, InvalidMessage, PassbackClient, Refused, activity, check, score

from product_kit import register_product

ROOT = Path(__file__).resolve().parents[3]


def client_for(stack: Any, rate: int = 100, **options: Any) -> PassbackClient:
    product = register_product(stack.base_url, rate=rate)
    return PassbackClient(stack.base_url, product.product_id, product.kid, product.private_pem, **options)


def test_the_shipped_schemas_are_the_published_ones() -> None:
    shipped = ROOT / "clients" / "python" / "src" / "passback_client" / "schemas"
    for name in ("score-message.schema.json", "activity-message.schema.json"):
        assert (shipped / name).read_text() == (ROOT / "docs" / "schemas" / name).read_text(), name


def test_messages_are_checked_against_the_schema_and_a_bad_one_sends_nothing(stack: Any) -> None:
    client = client_for(stack)
    good = activity("quiz-1", "Quiz 1")
    bad = score({"email": "mia@example.edu"}, "quiz-1", 3, 180.0)
    bad["extra"] = 1
    assert check(good) == []
    problems = check(bad)
    assert any(p.startswith("score:") for p in problems)
    assert any("extra" in p for p in problems)
    with pytest.raises(InvalidMessage) as raised:
        client.send([good, bad])
    assert set(raised.value.problems) == {1}
    assert raised.value.unsent == [good, bad]
    assert client.status(good["message_id"]) is None  # nothing went


def test_the_client_sends_batches_of_ten_and_reads_each_status(stack: Any) -> None:
    client = client_for(stack)
    messages = [activity("quiz-1", "Quiz 1")]
    messages += [score({"email": f"learner{i}@example.edu"}, "quiz-1", 1, float(i)) for i in range(24)]
    accepted = client.send(messages)
    assert accepted == [m["message_id"] for m in messages]
    stack.drain()
    assert {client.status(i)["status"] for i in accepted} == {"applied"}  # type: ignore[index]


def test_a_refused_batch_raises_with_the_problems_and_every_unsent_message(stack: Any) -> None:
    owner = client_for(stack)
    owner.send([activity("quiz-1", "Quiz 1")])
    other = client_for(stack)
    first = [other.activity("reading-1", "Reading 1")]
    theirs = [other.score({"email": "x@example.edu"}, "quiz-1", 1, 50.0) for _ in range(12)]
    with pytest.raises(Refused) as raised:
        other.send(first + theirs)
    assert raised.value.status == 403
    assert raised.value.accepted == []  # the first batch mixed a good and a bad message: all or nothing
    assert raised.value.unsent == first + theirs
    assert "belongs to another product" in str(raised.value)


def test_a_429_storm_is_ridden_out_and_no_message_is_lost(stack: Any) -> None:
    client = client_for(stack, rate=10, backoff_base=0.05)
    client.send([activity("quiz-1", "Quiz 1")])
    batches = [[score({"email": f"u{t}-{i}@example.edu"}, "quiz-1", 1, 50.0) for i in range(20)] for t in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(client.send, batches))
    sent = [m["message_id"] for batch in batches for m in batch]
    assert [i for ids in results for i in ids] == sent
    assert client.retries > 0  # the limit (10/s) was hit and waited out
    stack.drain()
    assert {client.status(i)["status"] for i in sent} == {"applied"}  # type: ignore[index]


class _Always503(BaseHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.endswith("/token"):
            body, status = json.dumps({"access_token": "t", "token_type": "Bearer", "expires_in": 900}), 200
        else:
            body, status = json.dumps({"error": "unavailable", "error_description": "down"}), 503
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def failing_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_when_retries_run_out_the_client_raises_with_every_unsent_message(failing_api: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    waits: list[float] = []
    client = PassbackClient(failing_api, "p", "k", pem, max_attempts=4, sleep=waits.append)
    messages = [activity(f"quiz-{i}", "Quiz") for i in range(15)]
    with pytest.raises(DeliveryFailed) as raised:
        client.send(messages)
    assert raised.value.unsent == messages
    assert raised.value.accepted == []
    assert len(waits) == 3  # four attempts, three backoffs
    assert all(0 <= w <= 20 for w in waits)
