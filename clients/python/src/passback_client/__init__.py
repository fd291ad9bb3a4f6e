"""Passback's client library: build and check score messages, get tokens, send with retries.

    client = PassbackClient(base_url, product_id, kid, private_key_pem)
    client.send([client.activity("quiz-1", "Quiz 1"), client.score({"learner_id": lid}, "quiz-1", 3, 80.0)])
    client.status(message_id)

`send` returns the accepted message ids or raises: it never drops a message it was handed.
"""

from passback_client.client import (
    DeliveryFailed,
    InvalidMessage,
    PassbackClient,
    PassbackError,
    Refused,
)
from passback_client.messages import activity, check, score

__all__ = [
    "DeliveryFailed",
    "InvalidMessage",
    "PassbackClient",
    "PassbackError",
    "Refused",
    "activity",
    "check",
    "score",
]
