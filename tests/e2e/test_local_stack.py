"""`passback serve` runs the whole system locally: HTTP on loopback, moto behind AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import Served, clean_env, start_serve, stop_serve, wait_for

pytestmark = pytest.mark.e2e


def test_serve_answers_jwks_with_the_tool_public_key(served: Served) -> None:
    response = requests.get(f"{served.base_url}/.well-known/jwks.json", timeout=60)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["kid"]
    assert "d" not in keys[0], "the private exponent must never be served"


def test_the_printed_aws_endpoint_lists_the_tables_and_queues(served: Served) -> None:
    tables = served.client("dynamodb").list_tables()["TableNames"]
    assert set(served.info["tables"].values()) <= set(tables)
    queues = served.client("sqs").list_queues()["QueueUrls"]
    assert set(served.info["queues"].values()) <= set(queues)


def test_a_message_on_the_queue_is_consumed_by_the_real_score_handler(served: Served) -> None:
    activity_id = f"quiz-{uuid.uuid4().hex[:8]}"
    body = json.dumps(
        {
            "type": "activity",
            "message_id": uuid.uuid4().hex,
            "activity_id": activity_id,
            "title": "Chapter 1 quiz",
            "min_questions": 3,
        }
    )
    served.client("sqs").send_message(QueueUrl=served.info["queues"]["ScoreQueue"], MessageBody=body)
    table = served.info["tables"]["ConfigTable"]

    def stored() -> dict[str, object] | None:
        return (
            served.client("dynamodb")
            .get_item(TableName=table, Key={"pk": {"S": f"ACT#{activity_id}"}, "sk": {"S": "#"}})
            .get("Item")
        )

    item = wait_for(stored, what="the activity to be stored by the score handler")
    assert item["title"]["S"] == "Chapter 1 quiz"
    assert item["min_questions"]["N"] == "3"


def test_a_malformed_message_lands_in_the_dead_letter_queue_with_its_reason(served: Served) -> None:
    sqs = served.client("sqs")
    marker = uuid.uuid4().hex
    sqs.send_message(
        QueueUrl=served.info["queues"]["ScoreQueue"], MessageBody=json.dumps({"type": "score", "marker": marker})
    )

    def dead_lettered() -> dict[str, object] | None:
        found = sqs.receive_message(
            QueueUrl=served.info["queues"]["ScoreDeadLetterQueue"],
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )
        return next((m for m in found.get("Messages", []) if marker in m["Body"]), None)

    message = wait_for(dead_lettered, what="the bad message in the dead-letter queue")
    assert message["MessageAttributes"]["reason"]["StringValue"] == "invalid message"
    assert "message_id: Field required" in message["MessageAttributes"]["detail"]["StringValue"]


def test_cli_verbs_reach_the_local_stack_through_its_state_file(served: Served) -> None:
    activity_id = f"reading-{uuid.uuid4().hex[:8]}"
    served.cli("activities", "put", "--id", activity_id, "--title", "Reading 2", "--min-questions", "2")
    listed = served.cli("activities", "list").stdout
    assert activity_id in listed
    assert "Reading 2" in listed


def test_ctrl_c_stops_serve_even_when_its_parent_left_ctrl_c_ignored(tmp_path: Path) -> None:
    """A CI runner, a test worker or nohup may start serve with SIGINT ignored; Python keeps that."""
    state = tmp_path / "local.json"
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "passback.cli", "--state-file", str(state), "serve", "--port", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509 - before exec
        )
    try:
        wait_for(lambda: state.exists() or process.poll() is not None, timeout=60, what="serve to start")
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_stops_serve_cleanly(tmp_path: Path) -> None:
    stack = start_serve(tmp_path)
    assert requests.get(f"{stack.base_url}/.well-known/jwks.json", timeout=60).status_code == 200
    assert stop_serve(stack) == 0
    assert not stack.state_file.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.base_url}/.well-known/jwks.json", timeout=2)
