"""The queues: course jobs to the release queue, bad messages to a dead-letter queue with a reason."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from passback import aws
from passback.messages import CourseJob

# Set by the API function on the messages a product posted (anyone allowed to send to the queue could
# set it too: the queue is the trusted same-account path, see docs/messages.md).
PRODUCT_ATTRIBUTE = "product_id"


class Queues:
    def __init__(self, *, release_queue_url: str, score_queue_url: str, score_dlq_url: str) -> None:
        self.release_queue_url = release_queue_url
        self.score_queue_url = score_queue_url
        self.score_dlq_url = score_dlq_url

    def send_job(self, job: CourseJob, *, delay_seconds: int = 0) -> None:
        aws.sqs().send_message(
            QueueUrl=self.release_queue_url, MessageBody=job.model_dump_json(), DelaySeconds=delay_seconds
        )

    def send_jobs(self, jobs: Iterable[CourseJob]) -> int:
        """Queue many jobs ten to a SendMessageBatch (a fan-out on a message's path); raises if any is refused."""
        batch: list[dict[str, Any]] = []
        sent = 0
        for job in jobs:
            batch.append({"Id": str(len(batch)), "MessageBody": job.model_dump_json()})
            if len(batch) == 10:
                sent += self._flush(batch, self.release_queue_url)
                batch = []
        if batch:
            sent += self._flush(batch, self.release_queue_url)
        return sent

    def dead_letter(
        self, body: str, *, reason: str, detail: str, source_message_id: str, product_id: str | None = None
    ) -> None:
        """Park a message that can never succeed, with why, so an operator can read, fix and redrive it."""
        attributes: dict[str, Any] = {
            "reason": {"DataType": "String", "StringValue": reason},
            "detail": {"DataType": "String", "StringValue": detail[:2000] or reason},
            "source_message_id": {"DataType": "String", "StringValue": source_message_id},
        }
        if product_id:
            attributes[PRODUCT_ATTRIBUTE] = {"DataType": "String", "StringValue": product_id}
        aws.sqs().send_message(QueueUrl=self.score_dlq_url, MessageBody=body, MessageAttributes=attributes)

    def publish_for_product(self, bodies: list[str], product_id: str) -> set[int]:
        """One API request's messages (at most ten), tagged with the product that posted them.

        Returns the positions the queue refused (SendMessageBatch can take some entries and refuse
        others): the caller must not treat the ones it took as unsent. Raises if the call itself fails.
        """
        tag = {PRODUCT_ATTRIBUTE: {"DataType": "String", "StringValue": product_id}}
        entries = [{"Id": str(i), "MessageBody": body, "MessageAttributes": tag} for i, body in enumerate(bodies)]
        result = aws.sqs().send_message_batch(QueueUrl=self.score_queue_url, Entries=entries)  # type: ignore[arg-type]
        return {int(f["Id"]) for f in result.get("Failed", [])}

    def publish(self, bodies: Iterable[str]) -> int:
        """Send product messages in batches of ten (the CLI's `scores send`)."""
        batch: list[dict[str, Any]] = []
        sent = 0
        for body in bodies:
            batch.append({"Id": str(len(batch)), "MessageBody": body})
            if len(batch) == 10:
                sent += self._flush(batch, self.score_queue_url)
                batch = []
        if batch:
            sent += self._flush(batch, self.score_queue_url)
        return sent

    def _flush(self, batch: list[dict[str, Any]], queue_url: str) -> int:
        result = aws.sqs().send_message_batch(QueueUrl=queue_url, Entries=batch)  # type: ignore[arg-type]
        failed = result.get("Failed", [])
        if failed:
            raise RuntimeError(f"{len(failed)} messages were not accepted by the queue: {json.dumps(failed)[:500]}")
        return len(result.get("Successful", []))
