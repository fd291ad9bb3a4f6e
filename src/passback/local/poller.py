"""Queue pollers: SQS messages delivered to the real handlers as Lambda SQS events.

Batches of the mapping's size; a partial batch response deletes the successes and returns the
failures to the queue (after a short local delay instead of the full visibility timeout, so a
developer sees a retry in seconds); moto moves a message to the dead-letter queue once its
receive count reaches the template's maxReceiveCount, as SQS does.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from passback import aws
from passback.local.runtime import LocalFunction
from passback.observability import logger


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "local"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class QueuePoller:
    def __init__(
        self,
        function: LocalFunction,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        partial_failures: bool,
        *,
        region: str,
        workers: int = 2,
        retry_delay_seconds: int = 2,
    ) -> None:
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.partial_failures = partial_failures
        self.region = region
        self.retry_delay = retry_delay_seconds
        self.delivered = 0
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"poll-{function.definition.logical_id}-{i}", daemon=True)
            for i in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.request_stop()
        self.join(time.monotonic() + 5)

    def request_stop(self) -> None:
        """Ask every worker to stop after its current invocation (a stack tells all pollers at once)."""
        self._stop.set()

    def join(self, deadline: float) -> None:
        """Wait for the workers until `deadline` (monotonic); they are daemons, so a late one dies with us."""
        for thread in self._threads:
            if thread.ident is not None:  # started (a stack that failed to start never started some)
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as error:
                logger.warning("local poller error", extra={"queue": self.queue_url, "error": repr(error)[:300]})
                self._stop.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        received = aws.sqs().receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages", [])
        if not messages:
            return 0
        records = [lambda_sqs_record(dict(m), self.queue_arn, self.region) for m in messages]
        failed_ids: set[str]
        try:
            response = self.function.invoke({"Records": records})
            failures = (response or {}).get("batchItemFailures", []) if self.partial_failures else []
            failed_ids = {str(f["itemIdentifier"]) for f in failures}
        except Exception as error:
            logger.warning(
                "local invocation failed; the batch returns to the queue",
                extra={"function": self.function.definition.logical_id, "error": repr(error)[:300]},
            )
            failed_ids = {r["messageId"] for r in records}
        self.delivered += len(records) - len(failed_ids)
        self.failed += len(failed_ids)
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        if done:
            aws.sqs().delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in messages:
            if message["MessageId"] in failed_ids:
                aws.sqs().change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_delay
                )
        return len(messages)
