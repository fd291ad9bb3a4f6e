"""The local stack's journal (local/journal.py, local/moto_server.py): what one data folder keeps
when a second stack is pointed at it, and what a journal torn by a SIGKILL replays."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from passback.local.stack import LOCAL_CREDENTIALS, LocalStack, MotoServer, StackError, free_port


def _create_queue_entry(name: str) -> dict[str, object]:
    body = json.dumps({"QueueName": name}).encode()
    return {
        "action": "CreateQueue",
        "method": "POST",
        "path": "/",
        "query": "",
        "headers": {
            "X-Amz-Target": "AmazonSQS.CreateQueue",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request",
        },
        "body": base64.b64encode(body).decode(),
    }


def test_fresh_on_a_data_folder_another_stack_is_using_refuses_and_deletes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    journal = data / "aws-journal.jsonl"
    data.mkdir()
    journal.write_text(json.dumps(_create_queue_entry("kept")) + "\n", encoding="utf-8")
    running = MotoServer("127.0.0.1", free_port(), journal)
    running.start()
    try:
        kept = journal.read_bytes()
        assert kept, "the running stack's journal holds its queue"
        second = LocalStack(port=0, data_dir=data, fresh=True, state_file=None)
        try:
            with pytest.raises(StackError, match="in use by another local stack"):
                second.start()
        finally:
            second.stop()
        # The running stack's data is still on disk: `--fresh` only empties a folder nobody uses.
        assert journal.read_bytes() == kept
    finally:
        running.stop()


def test_a_journal_torn_by_a_kill_replays_every_complete_line_and_drops_the_torn_one(tmp_path: Path) -> None:
    journal = tmp_path / "aws-journal.jsonl"
    whole = json.dumps(_create_queue_entry("whole")) + "\n"
    torn = json.dumps(_create_queue_entry("torn"))[:-20]
    journal.write_text(whole + torn, encoding="utf-8")
    port = free_port()
    server = MotoServer("127.0.0.1", port, journal)
    server.start()
    try:
        import boto3

        sqs = boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1", **_credentials())
        names = [url.rsplit("/", 1)[-1] for url in sqs.list_queues().get("QueueUrls", [])]
        assert names == ["whole"]
        sqs.create_queue(QueueName="after")
    finally:
        server.stop()
    # The compacted journal has no torn line, so what is appended after it stays readable.
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["CreateQueue", "CreateQueue"]


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
