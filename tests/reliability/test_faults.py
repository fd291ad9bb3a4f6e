"""Faults, each judged by the oracle: nothing lost, nothing extra sent, no cell left in between.

Every test plays one generated stream (a fixed seed, so a failure replays) through the in-process
stack while something breaks: the queue, the handler, the LMS, its tokens, DynamoDB or the
schedule's timing. Simulated hours pass on the test clock; nothing waits for real time except
the LMS "timeouts", which hang a fraction of a second against a shorter client timeout.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from pynamodb.exceptions import PynamoDBException
from scenario import RESTING, Delivery, Scenario, make_stream

from oracle import Deadline, Drain, Release, Stream
from passback import container
from passback.data.progress import ProgressRepository
from passback.services.sync import SyncService
from stack_harness import Stack


def rich_stream(seed: int, *, manual: bool | None = None, deadline: bool | None = None) -> Stream:
    """The first stream from `seed` on with enough in it to break: scores, launches, the wanted policy."""
    rng = random.Random(seed)
    while True:
        stream = make_stream(rng, max_students=3, max_activities=2)
        enough = len(stream.scores()) >= 6 and len(stream.students) >= 2
        has_deadline = any(isinstance(e, Deadline) for e in stream.events)
        if (
            enough
            and (manual is None or stream.manual_release == manual)
            and (deadline is None or has_deadline == deadline)
        ):
            return stream


def sweep_for(scenario: Scenario, minutes: int, every: int = 5) -> None:
    """The schedule runs every `every` simulated minutes for `minutes`."""
    for _ in range(minutes // every):
        scenario.clock.advance(minutes=every)
        scenario.stack.sweep()
        scenario._drain()


def settle(scenario: Scenario) -> None:
    scenario.stream.end_minute = (scenario.clock.now - scenario.start) / timedelta(minutes=1)
    scenario.finish()


# ---------------------------------------------------------------------- the queue


def test_a_whole_stream_delivered_once_at_the_end_in_shuffled_order_ends_as_the_oracle_says(
    stack: Stack, lms: Any, clock: Any
) -> None:
    stream = rich_stream(101)
    stream.events = [e for e in stream.events if not isinstance(e, Drain)]
    scenario = Scenario(stack, lms, clock, stream, delivery=Delivery(rng=random.Random(5), shuffle=True))
    scenario.run()
    scenario.verdict()


# ---------------------------------------------------------------------- the handler


class Killed(BaseException):
    """A process kill: not an Exception, so no handler, batch processor or poller catches it."""


def failing_every(
    original: Callable[..., Any], calls: set[int], error: Callable[[], BaseException]
) -> Callable[..., Any]:
    seen = {"n": 0}
    lock = threading.Lock()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["n"] += 1
            fail = seen["n"] in calls
        if fail:
            raise error()
        return original(*args, **kwargs)

    return wrapper


def test_a_handler_that_raises_mid_batch_loses_nothing(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = Scenario(stack, lms, clock, rich_stream(103))
    scenario.set_up()
    boom: Callable[[], BaseException] = lambda: RuntimeError("injected crash")  # noqa: E731
    # After the progress write and before the sync, and before the write itself.
    monkeypatch.setattr(SyncService, "sync_learner", failing_every(SyncService.sync_learner, {2, 4, 7}, boom))
    monkeypatch.setattr(ProgressRepository, "save", failing_every(ProgressRepository.save, {3, 6}, boom))
    scenario.play()
    scenario.finish()
    scenario.verdict()
    assert stack.dead_letters() == []


def test_a_worker_killed_mid_batch_loses_nothing(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies holding a received batch: no delete, no failure report; SQS shows it again.

    `passback serve` keeps its state in a moto server it owns, so killing and restarting it
    would start from an empty stack; the kill is simulated in-process instead: a BaseException
    escapes the handler, the batch processor and the poller, exactly where SIGKILL would stop them.
    A zero visibility timeout stands for the timeout having elapsed.
    """
    scenario = Scenario(stack, lms, clock, rich_stream(104))
    scenario.set_up()
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_urls["ScoreQueue"], Attributes={"VisibilityTimeout": "0"})
    monkeypatch.setattr(ProgressRepository, "save", failing_every(ProgressRepository.save, {2, 5}, Killed))
    monkeypatch.setattr(SyncService, "sync_learner", failing_every(SyncService.sync_learner, {3}, Killed))
    kills = {"n": 0}

    def drain_surviving_kills() -> None:
        for _ in range(20):
            try:
                stack.drain()
                return
            except Killed:
                kills["n"] += 1  # the platform starts a new worker
        raise AssertionError("never drained")

    scenario.drain = drain_surviving_kills
    scenario.play()
    scenario.finish()
    assert kills["n"] >= 2
    scenario.verdict()
    assert stack.dead_letters() == []


# ---------------------------------------------------------------------- the LMS


def test_an_lms_failing_with_500s_timeouts_and_429s_for_thirty_minutes_then_recovering_gets_every_grade(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSBACK_HTTP_TIMEOUT_SECONDS", "0.2")
    container.reset()
    scenario = Scenario(stack, lms, clock, rich_stream(105, manual=False))
    scenario.set_up()
    lms.faults.hang(0.5, count=3, target="score")
    lms.faults.rate_limit(retry_after=120, count=4, target="score")
    lms.faults.fail(status=500, target="score", body="Internal Server Error")
    scenario.play()
    sweep_for(scenario, 30)
    assert lms.counters["score"] > 0
    lms.faults.clear()
    sweep_for(scenario, 40)
    settle(scenario)
    scenario.verdict()


def test_an_lms_down_for_two_hours_leaves_gave_up_cells_that_a_resync_delivers(
    stack: Stack, lms: Any, clock: Any
) -> None:
    scenario = Scenario(stack, lms, clock, rich_stream(106, manual=False))
    scenario.set_up()
    lms.faults.fail(status=503, target="all", body="Service Unavailable")
    scenario.play()
    sweep_for(scenario, 120, every=10)
    cells = scenario.cells()
    assert "gave up" in {c.status for c in cells.values()}
    assert {c.status for c in cells.values()} <= RESTING | {"gave up"}
    assert scenario.lms_gradebook() == {}
    lms.faults.clear()
    container.jobs().request("resync", scenario.course_id, clock.now, requested_by="test")
    scenario._drain()
    settle(scenario)
    scenario.verdict()


def test_tokens_expiring_before_every_drain_still_deliver_everything(stack: Stack, lms: Any, clock: Any) -> None:
    scenario = Scenario(stack, lms, clock, rich_stream(107))
    scenario.set_up()

    def drain_with_fresh_expiry() -> None:
        lms.faults.expire_tokens()
        stack.drain()

    scenario.drain = drain_with_fresh_expiry
    lms.reset_counters()
    scenario.play()
    scenario.finish()
    scenario.verdict()
    drains = sum(isinstance(e, Drain) for e in scenario.stream.events) + 3
    assert lms.counters["token"] <= drains  # one new token per expiry at most, not one per score


# ---------------------------------------------------------------------- DynamoDB


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Every DynamoDB client PynamoDB makes refuses every `every`-th call while `on` is set, `limit` times.

    Injected with botocore's `before-call` hook: a handler that returns a response short-
    circuits the HTTP call, as a throttled table would answer.
    """
    import botocore.session
    import pynamodb.connection.base as pynamodb_base

    from passback.data.tables import TABLES

    state: dict[str, Any] = {"on": False, "every": 20, "calls": 0, "refused": 0, "limit": 15}
    lock = threading.Lock()
    rng = random.Random(42)

    def before_call(**_: Any) -> Any:
        with lock:
            if not state["on"]:
                return None
            state["calls"] += 1
            # Seeded chance, not every n-th call: a message making n calls per try would be hit every try.
            if rng.random() >= 1 / state["every"] or state["refused"] >= state["limit"]:
                return None
            state["refused"] += 1
        error = {
            "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return (_Http(400), error)

    def throttled_session() -> botocore.session.Session:
        session = botocore.session.get_session()
        session.register("before-call.dynamodb", before_call)
        return session

    monkeypatch.setattr(pynamodb_base, "get_session", throttled_session)
    for spec in TABLES:
        for model in (spec.base, *spec.models):
            model._connection = None  # the next call makes a client from a throttled session
    yield state
    for spec in TABLES:
        for model in (spec.base, *spec.models):
            model._connection = None


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


def state_limit(throttle: dict[str, Any]) -> int:
    return int(throttle["refused"]) + 1


def test_dynamodb_throttling_past_botocores_own_retries_loses_nothing(
    stack: Stack, lms: Any, clock: Any, throttle: dict[str, Any]
) -> None:
    scenario = Scenario(stack, lms, clock, rich_stream(108))
    scenario.set_up()

    def throttled_drain() -> None:
        throttle["on"] = True
        try:
            stack.drain()
        finally:
            throttle["on"] = False

    scenario.drain = throttled_drain
    scenario.play()
    scenario.finish()
    assert throttle["refused"] > 0
    throttle.update(on=True, every=0.5, limit=state_limit(throttle))  # the hook really refuses (a test of the test)
    try:
        with pytest.raises(PynamoDBException, match="ProvisionedThroughputExceededException"):
            container.courses().get(scenario.course_id)
    finally:
        throttle.update(on=False, every=20)
    scenario.verdict()
    assert stack.dead_letters() == []


# ---------------------------------------------------------------------- the schedule


def test_two_sweeps_and_a_release_racing_on_one_course_send_what_the_oracle_says(
    stack: Stack, lms: Any, clock: Any
) -> None:
    stream = rich_stream(109, manual=True, deadline=True)
    late = [e for e in stream.events if isinstance(e, Release)]
    stream.events = [e for e in stream.events if not isinstance(e, Release)]
    scenario = Scenario(stack, lms, clock, stream)
    scenario.run()  # nothing released yet; deadlines fall due when the clock jumps
    clock.advance(minutes=180)
    stream.events.extend(late or [Release(next(iter(stream.activities)))])
    for event in stream.events:
        if isinstance(event, Release):
            scenario.release_marks.setdefault(event.activity, len(scenario.history()))
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def sweep() -> None:
        barrier.wait()
        stack.sweep()

    def release() -> None:
        barrier.wait()
        for event in stream.events:
            if isinstance(event, Release):
                container.jobs().request("release", scenario.course_id, clock.now, activity_id=event.activity)
        stack.drain()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:
                errors.append(error)

        return run

    threads = [threading.Thread(target=guarded(w)) for w in (sweep, sweep, release)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    settle(scenario)
    scenario.verdict()
