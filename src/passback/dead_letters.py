"""The dead-letter queues, for operators: read what is parked there and why, and send it back.

Two pairs: the score queue's (bad product messages, with a `reason` attribute, or messages SQS
moved after too many failed deliveries) and the release queue's (course jobs). Reading uses a short
visibility timeout so paging sees every message once; the messages reappear right after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from passback import aws
from passback.queues import PRODUCT_ATTRIBUTE

# While a listing pages through a queue, what it has read stays hidden this long (then reappears).
PEEK_SECONDS = 10
PAGE = 10


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str  # score | release
    url: str
    source_url: str  # where a redrive sends messages back


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    body: str
    reason: str
    detail: str
    sent_at: datetime | None
    receives: int
    receipt: str
    attributes: dict[str, str]

    @property
    def product_id(self) -> str | None:
        """The product that posted it through the HTTPS API (the API function tags its messages)."""
        return self.attributes.get(PRODUCT_ATTRIBUTE) or None


def _letter(queue: str, raw: Any) -> DeadLetter:
    attributes = {k: str(v.get("StringValue", "")) for k, v in (raw.get("MessageAttributes") or {}).items()}
    system = raw.get("Attributes") or {}
    sent = system.get("SentTimestamp")
    return DeadLetter(
        queue=queue,
        message_id=str(raw["MessageId"]),
        body=str(raw.get("Body", "")),
        reason=attributes.get("reason", "failed delivery (moved by SQS after repeated failures)"),
        detail=attributes.get("detail", ""),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        receives=int(system.get("ApproximateReceiveCount", "0")),
        receipt=str(raw["ReceiptHandle"]),
        attributes=attributes,
    )


class DeadLetters:
    def __init__(self, queues: list[DeadLetterQueue]) -> None:
        self.queues = [q for q in queues if q.url]

    def depth(self, queue: DeadLetterQueue) -> int:
        found = aws.sqs().get_queue_attributes(QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(found["Attributes"].get("ApproximateNumberOfMessages", "0"))

    def read(self, queue: DeadLetterQueue, limit: int, *, hide_seconds: int = PEEK_SECONDS) -> list[DeadLetter]:
        """Up to `limit` distinct messages. Each is hidden while the pages are read (so each is seen
        once), then made visible again: reading changes nothing."""
        letters = self._receive(queue, limit, hide_seconds)
        self.release(queue, letters)
        return letters

    def _receive(self, queue: DeadLetterQueue, limit: int, hide_seconds: int) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        seen: set[str] = set()
        empty_rounds = 0
        while len(letters) < limit and empty_rounds < 2:
            found = aws.sqs().receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=min(PAGE, limit - len(letters)),
                VisibilityTimeout=hide_seconds,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
            fresh = [m for m in found.get("Messages", []) if m["MessageId"] not in seen]
            empty_rounds = 0 if fresh else empty_rounds + 1
            for raw in fresh:
                seen.add(raw["MessageId"])
                letters.append(_letter(queue.name, raw))
        return letters

    def release(self, queue: DeadLetterQueue, letters: list[DeadLetter]) -> None:
        """Make read messages visible again at once."""
        for start in range(0, len(letters), PAGE):
            entries = [
                {"Id": str(i), "ReceiptHandle": letter.receipt, "VisibilityTimeout": 0}
                for i, letter in enumerate(letters[start : start + PAGE])
            ]
            aws.sqs().change_message_visibility_batch(QueueUrl=queue.url, Entries=entries)  # type: ignore[arg-type]

    def find(self, message_id: str, *, scan_limit: int = 10_000) -> DeadLetter | None:
        """The message whose id is or starts with `message_id`, in either queue."""
        for queue in self.queues:
            for letter in self.read(queue, scan_limit):
                if letter.message_id.startswith(message_id):
                    return letter
        return None

    def redrive(
        self,
        queue: DeadLetterQueue,
        *,
        only: set[str] | None = None,
        limit: int = 100_000,
        progress: Callable[[int], None] | None = None,
        product_id: str | None = None,
    ) -> int:
        """Send messages back to the queue they came from (all, or those whose id starts with one of
        `only`, or one product's); the `reason` attributes are dropped, the product tag is kept (its
        API status follows the message). Each is sent, then deleted here."""
        sqs = aws.sqs()
        moved = 0
        # Hidden for longer than a listing: a message being moved must not be read twice meanwhile.
        letters = self._receive(queue, limit, hide_seconds=300)
        kept = [
            x
            for x in letters
            if (only is not None and not any(x.message_id.startswith(w) for w in only))
            or (product_id is not None and x.product_id != product_id)
        ]
        self.release(queue, kept)
        for letter in letters:
            if letter in kept:
                continue
            tag = letter.product_id
            attributes: dict[str, Any] = {PRODUCT_ATTRIBUTE: {"DataType": "String", "StringValue": tag}} if tag else {}
            sqs.send_message(QueueUrl=queue.source_url, MessageBody=letter.body, MessageAttributes=attributes)
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=letter.receipt)
            moved += 1
            if progress is not None:
                progress(moved)
        return moved
