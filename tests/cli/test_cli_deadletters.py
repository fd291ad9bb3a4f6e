"""`passback deadletters list|show|redrive`: what is parked and why, and sending it back once fixed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from test_cli_refusals import run

from passback import container


def test_deadletters_list_and_show_give_each_message_its_reason(
    stack: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    marker = uuid.uuid4().hex
    stack.send_messages([{"type": "score", "marker": marker}, "not json"])
    stack.drain()
    status, out, _ = run(capsys, "deadletters", "list")
    assert status == 0
    assert "score dead-letter queue: 2 message(s)" in out
    assert "invalid message: message_id: Field required" in out
    assert "not JSON" in out
    assert "release dead-letter queue: 0 message(s)" in out
    line = next(row for row in out.splitlines() if "message_id" in row)
    message_id = line.split()[0]
    status, out, _ = run(capsys, "deadletters", "show", message_id[:8])
    assert status == 0
    assert marker in out
    assert "reason    invalid message" in out
    # Listing and showing changed nothing: both are still there, visible at once.
    assert len(stack.dead_letters()) == 2


def test_deadletters_redrive_sends_a_message_back_and_it_is_processed(
    stack: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A message that failed for a reason since fixed: here parked by hand, as SQS would after retries.
    body = json.dumps({"type": "activity", "message_id": uuid.uuid4().hex, "activity_id": "quiz-9", "title": "Quiz 9"})
    stack.sqs.send_message(QueueUrl=stack.queue_urls["ScoreDeadLetterQueue"], MessageBody=body)
    stack.sqs.send_message(QueueUrl=stack.queue_urls["ScoreDeadLetterQueue"], MessageBody="keep me")
    status, out, _ = run(capsys, "deadletters", "list", "--queue", "score")
    wanted = next(row.split()[0] for row in out.splitlines() if "failed delivery" in row and row.startswith("  "))
    letters = {row.split()[0] for row in out.splitlines() if row.startswith("  ")}
    assert len(letters) == 2
    # Redrive by id: only that one goes back.
    chosen = next(
        x.message_id for x in container.dead_letters().read(container.dead_letters().queues[0], 10) if x.body == body
    )
    assert wanted in letters
    status, out, _ = run(capsys, "deadletters", "redrive", "--queue", "score", "--id", chosen)
    assert status == 0
    assert "sent 1 message(s) back" in out
    stack.drain()
    assert container.catalog().get("quiz-9") is not None
    remaining = stack.dead_letters()
    assert [m["Body"] for m in remaining] == ["keep me"]
    status, _, err = run(capsys, "deadletters", "redrive", "--id", "nothing-like-this")
    assert status == 1
    assert "not found" in err


def test_deadletters_redrive_needs_ids_or_all(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "deadletters", "redrive")
    assert status == 2
    assert "--id" in err
    assert "--all" in err


def test_deadletters_list_and_redrive_by_product_keep_the_product_and_its_status_follows(
    stack: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str], clock: Any
) -> None:
    from product_kit import register_product
    from stack_harness import activity, score

    quiz = register_product(stack.base_url, "quiz-app")
    reading = register_product(stack.base_url, "reading-app")
    assert quiz.post([activity("quiz-1", "Quiz 1")]).status_code == 202
    stack.drain()
    mine = score({"email": "ann@example.edu"}, "quiz-1", 1, 70.0, clock.now)
    assert quiz.post([mine]).status_code == 202
    # Parked as SQS parks a message after repeated failed deliveries (a DynamoDB outage, say): tagged, unapplied.
    parked = stack.sqs.receive_message(
        QueueUrl=stack.queue_urls["ScoreQueue"], MessageAttributeNames=["All"], MaxNumberOfMessages=1
    )["Messages"][0]
    stack.sqs.send_message(
        QueueUrl=stack.queue_urls["ScoreDeadLetterQueue"],
        MessageBody=parked["Body"],
        MessageAttributes=parked["MessageAttributes"],
    )
    stack.sqs.delete_message(QueueUrl=stack.queue_urls["ScoreQueue"], ReceiptHandle=parked["ReceiptHandle"])
    tag = {"product_id": {"DataType": "String", "StringValue": reading.product_id}}
    stack.sqs.send_message(
        QueueUrl=stack.queue_urls["ScoreDeadLetterQueue"], MessageBody="theirs", MessageAttributes=tag
    )
    status, out, _ = run(capsys, "deadletters", "list", "--queue", "score", "--product", quiz.product_id)
    assert status == 0
    assert f"2 message(s), 1 from {quiz.product_id}" in out
    assert f"[{quiz.product_id}]" in out
    assert reading.product_id not in out
    assert quiz.status(mine["message_id"]).json()["status"] == "accepted"
    status, out, _ = run(capsys, "deadletters", "redrive", "--queue", "score", "--product", quiz.product_id)
    assert status == 0
    assert "sent 1 message(s) back" in out
    stack.drain()
    # The product tag came back with it: the status moved on, and the other product's letter stayed.
    assert quiz.status(mine["message_id"]).json()["status"] == "applied"
    assert [m["Body"] for m in stack.dead_letters()] == ["theirs"]
