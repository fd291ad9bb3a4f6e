"""The product API under a hostile reviewer (issue 21's review): bodies, legacy activities, queue failures."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from passback import container
from product_kit import register_product
from stack_harness import Stack, activity, score


def _post_raw(stack: Stack, token: str, body: bytes, content_type: str = "application/json") -> requests.Response:
    return requests.post(
        f"{stack.base_url}/api/v1/messages",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=30,
    )


def test_a_body_nesting_too_deep_or_holding_a_huge_number_is_a_400_not_a_500(stack: Stack) -> None:
    token = register_product(stack.base_url).token()
    deep = b'{"messages":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    huge = b'{"messages":[{"type":"score","answered":' + b"9" * 5_000 + b"}]}"
    for body in (deep, huge):
        answer = _post_raw(stack, token, body)
        assert answer.status_code == 400, answer.text[:300]
        problem = answer.json()["problems"][0]
        assert problem["field"] == "body"
        assert "JSON" in problem["problem"]


def test_a_body_that_is_not_json_gets_415_in_the_apis_own_error_shape(stack: Stack) -> None:
    token = register_product(stack.base_url).token()
    answer = _post_raw(stack, token, b"messages=1", "text/plain")
    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert "application/json" in answer.json()["error_description"]


def test_an_activity_published_through_the_score_queue_is_not_taken_by_the_first_product_to_publish_it(
    stack: Stack, clock: Any
) -> None:
    stack.send_messages([activity("legacy-quiz", "Quiz published by a same-account product")])
    stack.drain()
    intruder = register_product(stack.base_url, "intruder")
    taken = intruder.post([activity("legacy-quiz", "Mine now", product_url="https://evil.example/phish")])
    assert taken.status_code == 403, taken.text
    assert "passback products assign" in taken.json()["problems"][0]["problem"]
    bundled = intruder.post(
        [activity("legacy-quiz", "Mine now"), score({"email": "a@example.edu"}, "legacy-quiz", 1, 1.0, clock.now)]
    )
    assert bundled.status_code == 403
    assert container.products().activity_owner("legacy-quiz") is None
    stack.drain()
    assert container.catalog().get("legacy-quiz").title == "Quiz published by a same-account product"  # type: ignore[union-attr]
    # An operator gives it to the product that really publishes it; then that product may use it.
    rightful = register_product(stack.base_url, "rightful")
    container.product_admin().assign(rightful.product_id, "legacy-quiz", clock.now)
    assert rightful.post([score({"email": "b@example.edu"}, "legacy-quiz", 1, 1.0, clock.now)]).status_code == 202
    assert intruder.post([score({"email": "c@example.edu"}, "legacy-quiz", 1, 1.0, clock.now)]).status_code == 403


class _FailingQueue:
    """The score queue refusing entries (a throttled or failing SendMessageBatch): `fail` entry indexes."""

    def __init__(self) -> None:
        self.fail: set[int] | None = None  # None: all go through; empty set: the whole call raises

    def wrap(self, real: Any) -> Any:
        def send_message_batch(**kwargs: Any) -> Any:
            if self.fail is None:
                return real(**kwargs)
            if not self.fail:
                raise RuntimeError("the queue is unavailable")
            entries = kwargs["Entries"]
            through = [e for i, e in enumerate(entries) if i not in self.fail]
            answer = real(**{**kwargs, "Entries": through}) if through else {"Successful": []}
            failed = [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"}
                for i, e in enumerate(entries)
                if i in self.fail
            ]
            return {**answer, "Failed": failed}

        return send_message_batch


@pytest.fixture
def failing_queue(monkeypatch: pytest.MonkeyPatch) -> _FailingQueue:
    from passback import aws

    fault = _FailingQueue()
    sqs = aws.sqs()
    monkeypatch.setattr(sqs, "send_message_batch", fault.wrap(sqs.send_message_batch))
    return fault


def test_a_queue_failure_on_a_repost_keeps_the_status_of_the_copy_already_queued(
    stack: Stack, clock: Any, failing_queue: _FailingQueue
) -> None:
    product = register_product(stack.base_url)
    token = product.token()
    first = activity("quiz-1", "Quiz 1")
    assert product.post([first], token=token).status_code == 202
    failing_queue.fail = set()
    second = activity("quiz-2", "Quiz 2")
    assert product.post([first, second], token=token).status_code == 503  # a client's retry, and the queue fails
    failing_queue.fail = None
    assert product.status(first["message_id"], token=token).json()["status"] == "accepted"
    assert product.status(second["message_id"], token=token).status_code == 404
    stack.drain()
    assert product.status(first["message_id"], token=token).json()["status"] == "applied"


def test_a_batch_the_queue_takes_in_part_keeps_the_status_of_the_messages_it_took(
    stack: Stack, clock: Any, failing_queue: _FailingQueue
) -> None:
    product = register_product(stack.base_url)
    token = product.token()
    took, refused = activity("quiz-1", "Quiz 1"), activity("quiz-2", "Quiz 2")
    failing_queue.fail = {1}
    answer = product.post([took, refused], token=token)
    assert answer.status_code == 503
    failing_queue.fail = None
    stack.drain()
    assert product.status(took["message_id"], token=token).json()["status"] == "applied"
    assert product.status(refused["message_id"], token=token).status_code == 404
    # The client retries the whole batch: the one already applied stays applied, the other is applied now.
    assert product.post([took, refused], token=token).status_code == 202
    stack.drain()
    assert product.status(took["message_id"], token=token).json()["status"] == "applied"
    assert product.status(refused["message_id"], token=token).json()["status"] == "applied"


def test_two_copies_of_a_message_settle_applied_whichever_copy_settles_first(stack: Stack, clock: Any) -> None:
    # SQS delivers at least once, and a client retry posts again: two copies race in two score
    # functions. The one that applied may settle after the duplicate settled "unchanged".
    statuses = container.message_statuses()
    for first, second in (("unchanged", "applied"), ("applied", "unchanged")):
        message_id = f"m-{first}"
        assert statuses.accept("quiz-app-1", message_id, clock.now)
        statuses.settle("quiz-app-1", message_id, first, clock.now)
        statuses.settle("quiz-app-1", message_id, second, clock.now)
        found = statuses.get("quiz-app-1", message_id)
        assert found is not None
        assert found.status == "applied"
