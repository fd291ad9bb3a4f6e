"""Delivery to the LMS (issue: passback delivery; rules 5, 10, 11): AGS and its failure modes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from course_setup import lti13_course
from passback import container
from passback.emulator import LmsEmulator
from stack_harness import Stack, score


def sweep_every(stack: Stack, clock: Any, minutes: int, until: timedelta, start: Any) -> None:
    while clock.now - start < until:
        clock.advance(minutes=minutes)
        stack.sweep()
        stack.drain()


def test_n_updates_across_m_learners_cost_one_token_request(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"))
    lms.reset_counters()
    for step in range(1, 6):
        stack.send_messages(
            [
                score(course.ref(u), "quiz-1", 2, 10.0 * step, clock.now + timedelta(seconds=step))
                for u in ("sam", "ria", "lee")
            ]
        )
        stack.drain()
    assert lms.counters["score"] == 15
    assert lms.counters["token"] == 1


def test_a_burst_to_one_cell_in_one_batch_sends_only_the_latest_value(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    lms.reset_counters()
    stack.send_messages(
        [score(course.ref("sam"), "quiz-1", 2 + i, 50.0 + i, clock.now + timedelta(seconds=i)) for i in range(10)]
    )
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 59.0
    assert lms.counters["score"] < 10


def test_an_lms_failing_for_thirty_minutes_receives_every_grade_within_the_hour(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"))
    lms.faults.fail(status=500, target="score")
    start = clock.now
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 75.0, clock.now) for u in ("sam", "ria", "lee")])
    stack.drain()
    assert {course.cell(u, "link-quiz-1").status for u in ("sam", "ria", "lee")} == {"retrying"}
    sweep_every(stack, clock, 5, timedelta(minutes=30), start)
    assert all(course.lms_grade(u, "link-quiz-1") is None for u in ("sam", "ria", "lee"))
    lms.faults.clear()
    sweep_every(stack, clock, 5, timedelta(minutes=60), start)
    for user in ("sam", "ria", "lee"):
        cell = course.cell(user, "link-quiz-1")
        assert course.lms_grade(user, "link-quiz-1") == 75.0
        assert cell.status == "synced"
        assert cell.sent_at - start <= timedelta(hours=1)
        assert any(a.outcome == "retryable" for a in cell.history)


def test_rule10_a_refused_token_request_is_retried_and_asked_once_for_the_whole_course(
    stack: Stack, lms: Any, clock: Any
) -> None:
    # The LMS could not fetch the tool's key set for a moment: its token endpoint says invalid_client.
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"))
    clock.advance(hours=2)  # every cached token has expired
    lms.faults.fail(status=401, target="token", body='{"error": "invalid_client"}')
    lms.reset_counters()
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 70.0, clock.now) for u in ("sam", "ria", "lee")])
    stack.drain()
    for user in ("sam", "ria", "lee"):
        cell = course.cell(user, "link-quiz-1")
        assert cell.status == "retrying"
        assert "refused an access token" in cell.message
    assert lms.counters["token"] == 1  # remembered: the other cells did not ask again
    assert lms.counters.get("score", 0) == 0
    lms.faults.clear()
    start = clock.now
    sweep_every(stack, clock, 5, timedelta(minutes=20), start)
    for user in ("sam", "ria", "lee"):
        assert course.lms_grade(user, "link-quiz-1") == 70.0
        assert course.cell(user, "link-quiz-1").status == "synced"
    assert lms.counters["token"] == 2


def test_an_lms_down_for_over_an_hour_leaves_gave_up_cells_that_a_resync_delivers(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    lms.faults.fail(status=503, target="score", body="Service Unavailable")
    start = clock.now
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 64.0, clock.now)])
    stack.drain()
    sweep_every(stack, clock, 5, timedelta(minutes=70), start)
    cell = course.cell("sam", "link-quiz-1")
    assert cell.status == "gave up"
    assert "HTTP 503" in cell.message
    assert "resync" in cell.message
    lms.faults.clear()
    stack.sweep()
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") is None  # gave up: waits for a resync
    container.jobs().request("resync", course.course_id, clock.now, activity_id="quiz-1")
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 64.0
    assert course.cell("sam", "link-quiz-1").status == "synced"


def test_an_expired_token_is_refreshed_once_and_the_score_still_lands(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 40.0, clock.now)])
    stack.drain()
    lms.reset_counters()
    lms.faults.expire_tokens()
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 45.0, clock.now + timedelta(seconds=5))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 45.0
    assert lms.counters["token"] == 1
    assert lms.counters["score"] == 2  # the refused one and the one that landed


def test_a_429_is_honoured_with_its_retry_after(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    lms.faults.rate_limit(retry_after=300, count=1, target="score")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 81.0, clock.now)])
    stack.drain()
    cell = course.cell("sam", "link-quiz-1")
    assert cell.status == "retrying"
    assert cell.next_attempt_at - clock.now >= timedelta(seconds=300)
    clock.advance(minutes=2)
    stack.sweep()
    assert course.lms_grade("sam", "link-quiz-1") is None  # not before its time
    clock.advance(minutes=4)
    stack.sweep()
    assert course.lms_grade("sam", "link-quiz-1") == 81.0


def test_rule11_user_not_in_course_is_explained_and_not_retried(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    lms.drop(course.context, "sam")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 90.0, clock.now)])
    stack.drain()
    cell = course.cell("sam", "link-quiz-1")
    assert cell.status == "user not in course"
    assert "User not found in course" in cell.message  # the LMS's own words
    assert "dropped the course" in cell.message  # and the explanation
    lms.reset_counters()
    clock.advance(minutes=30)
    stack.sweep()
    assert lms.counters["score"] == 0


@pytest.fixture
def moodle(clock: Any) -> Iterator[LmsEmulator]:
    with LmsEmulator(mode="moodle", clock=lambda: clock.now.timestamp()) as emulator:  # noqa: PLW0108 - now moves
        yield emulator


def test_two_changes_in_one_second_both_land_in_moodle(stack: Stack, moodle: LmsEmulator, clock: Any) -> None:
    course = lti13_course(stack, moodle, students=("sam",))
    line_item = course.record().links
    assert any("?type_id=" in (link.line_item_url or "") for link in line_item.values())
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 50.0, clock.now)])
    stack.drain()
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 60.0, clock.now + timedelta(milliseconds=300))])
    stack.drain()  # the same wall-clock second for the sync: timestamps must still increase
    history = [s for s in moodle.score_history() if s["user_id"] == "sam"]
    assert [s["score_given"] for s in history] == [50.0, 60.0]
    assert course.cell("sam", "link-quiz-1").status == "synced"


def test_the_per_platform_concurrency_cap_holds(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSBACK_PLATFORM_CONCURRENCY", "2")
    container.reset()
    users = tuple(f"s{i}" for i in range(8))
    course = lti13_course(stack, lms, students=users)
    lms.faults.delay_ms(80, target="score")
    lms.reset_counters()
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 70.0, clock.now) for u in users])
    stack.drain()
    assert all(course.lms_grade(u, "link-quiz-1") == 70.0 for u in users)
    assert lms.max_concurrent("score") <= 2


def test_a_send_waiting_too_long_for_a_turn_at_a_busy_lms_is_retried_later_instead_of_outliving_its_claim(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform's concurrency cap is full (other sends hold every slot): a send under a claim waits
    for a turn at most what keeps it inside its claim's lease, then gives the cell to the retry schedule
    (a deferred failure: not an attempt), and the grade goes once a slot is free."""
    import contextlib

    # The slot wait is what the lease leaves after 4 calls of the HTTP timeout: 24.5 s leaves 0.5 s.
    monkeypatch.setenv("PASSBACK_HTTP_TIMEOUT_SECONDS", "24.5")
    monkeypatch.setenv("PASSBACK_PLATFORM_CONCURRENCY", "2")
    container.reset()
    course = lti13_course(stack, lms, students=("sam",))
    gate = container.gate()
    with contextlib.ExitStack() as busy:
        for _ in range(2):
            busy.enter_context(gate.slot(course.record().platform_id))
        stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 77.0, clock.now)])
        stack.drain()
        cell = course.cell("sam", "link-quiz-1")
        assert (cell.status, cell.attempts) == ("retrying", 0)
        assert "no turn came" in (cell.message or "")
        assert course.lms_grade("sam", "link-quiz-1") is None
    clock.advance(minutes=2)
    stack.sweep()
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 77.0
    assert course.cell("sam", "link-quiz-1").status == "synced"
