"""Rules 10 and 11 (LMS errors are shown and retried; "user is not in course"), and the sync decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.domain.delivery import (
    Action,
    CellState,
    CellStatus,
    Decision,
    FailureKind,
    RetryPlan,
    classify_lms_failure,
    lms_errors_are_retried,
    next_score_timestamp,
    sync_decision,
    user_is_not_in_course,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PLAN = RetryPlan()
HORIZON = timedelta(seconds=PLAN.horizon_seconds)

# --- rule 10: which failures are retried ------------------------------------------------------


@pytest.mark.parametrize("status", [None, 500, 502, 503, 504, 599, 408, 429])
def test_rule10_no_answer_5xx_408_and_429_are_retryable(status: int | None) -> None:
    assert classify_lms_failure(status, "Service Unavailable") is FailureKind.RETRYABLE


@pytest.mark.parametrize("status", [None, 503, 429])
def test_rule10_retryable_wins_over_any_message(status: int | None) -> None:
    assert classify_lms_failure(status, "User is not in course") is FailureKind.RETRYABLE
    assert classify_lms_failure(status, "conflict", timestamp_conflict=True) is FailureKind.RETRYABLE


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 415, 422])
def test_rule10_other_4xx_are_permanent(status: int) -> None:
    assert classify_lms_failure(status, "Invalid scoreGiven") is FailureKind.PERMANENT


def test_rule10_timestamp_conflict_means_the_lms_has_newer() -> None:
    assert classify_lms_failure(400, "Score timestamp not valid", timestamp_conflict=True) is FailureKind.LMS_NEWER
    assert classify_lms_failure(409, "Conflict", timestamp_conflict=True) is FailureKind.LMS_NEWER


# --- rule 11: "user is not in course" ------------------------------------------------------------

NOT_IN_COURSE_MESSAGES = [
    "User not found in course or is not a student",  # Canvas AGS, 422
    "User is not in course",  # Moodle
    "The user is not enrolled in this course",
    "Student not found in context",
    "user is not enrolled",
    "The learner is not a member of this section",
    "No such user",
    "USER NOT FOUND IN COURSE",
]
ORDINARY_MESSAGES = [
    "Invalid scoreGiven",
    "Bad Request",
    "",
    "Line item not found",
    "user not authorized to perform that action",  # Canvas 401 for a token without the scope
    "Invalid access token",
    "Score maximum must be a positive number",
    "The course has concluded",
]


@pytest.mark.parametrize("message", NOT_IN_COURSE_MESSAGES)
def test_rule11_lms_phrasings_of_user_not_in_course_are_recognised(message: str) -> None:
    assert user_is_not_in_course(message) is True
    assert classify_lms_failure(422, message) is FailureKind.USER_NOT_IN_COURSE
    assert classify_lms_failure(400, message, timestamp_conflict=True) is FailureKind.USER_NOT_IN_COURSE


@pytest.mark.parametrize("message", ORDINARY_MESSAGES)
def test_rule11_ordinary_errors_are_not_user_not_in_course(message: str) -> None:
    assert user_is_not_in_course(message) is False
    assert classify_lms_failure(400, message) is FailureKind.PERMANENT


def test_rule11_canvas_basic_outcomes_phrasing_is_recognised() -> None:
    assert user_is_not_in_course("User is no longer in course") is True


# --- rule 10: AGS timestamps ---------------------------------------------------------------------


def test_rule10_score_timestamp_is_now_at_whole_seconds() -> None:
    now = NOW + timedelta(milliseconds=750)
    assert next_score_timestamp(None, now) == int(NOW.timestamp())
    assert next_score_timestamp(int(NOW.timestamp()) - 10, now) == int(NOW.timestamp())


def test_rule10_two_changes_in_one_second_get_consecutive_seconds() -> None:
    first = next_score_timestamp(None, NOW)
    second = next_score_timestamp(first, NOW + timedelta(milliseconds=300))
    third = next_score_timestamp(second, NOW + timedelta(milliseconds=600))
    assert (second, third) == (first + 1, first + 2)


@given(steps=st.lists(st.integers(min_value=-5_000, max_value=5_000), min_size=1, max_size=40))
def test_rule10_score_timestamps_strictly_increase(steps: list[int]) -> None:
    last: int | None = None
    now = NOW
    for step_ms in steps:
        now += timedelta(milliseconds=step_ms)  # some steps are 0 (same instant), some go backwards
        stamp = next_score_timestamp(last, now)
        assert isinstance(stamp, int)
        assert stamp >= int(now.timestamp())
        if last is not None:
            assert stamp > last
            assert stamp == max(last + 1, int(now.timestamp()))
        last = stamp


# --- rule 10: backoff ---------------------------------------------------------------------------


def test_rule10_first_retry_is_within_the_base_delay() -> None:
    at = lms_errors_are_retried(first_failure=NOW, attempts=1, now=NOW, jitter=0.0)
    assert at == NOW + timedelta(seconds=15)
    at = lms_errors_are_retried(first_failure=NOW, attempts=1, now=NOW, jitter=0.999)
    assert at is not None
    assert NOW + timedelta(seconds=15) <= at < NOW + timedelta(seconds=30)


def test_rule10_delays_grow_exponentially_up_to_the_cap() -> None:
    delays = [
        (lms_errors_are_retried(first_failure=NOW, attempts=n, now=NOW, jitter=0.5) or NOW) - NOW for n in range(1, 10)
    ]
    seconds = [d.total_seconds() for d in delays]
    assert seconds == [22.5, 45.0, 90.0, 180.0, 360.0, 675.0, 675.0, 675.0, 675.0]


def test_rule10_retry_after_is_honoured() -> None:
    at = lms_errors_are_retried(first_failure=NOW, attempts=1, now=NOW, jitter=0.0, retry_after_seconds=120)
    assert at == NOW + timedelta(seconds=120)


def test_rule10_a_short_retry_after_does_not_shorten_the_backoff() -> None:
    at = lms_errors_are_retried(first_failure=NOW, attempts=3, now=NOW, jitter=0.0, retry_after_seconds=1)
    assert at == NOW + timedelta(seconds=60)


def test_rule10_retry_after_beyond_the_horizon_lands_at_the_horizon() -> None:
    now = NOW + timedelta(minutes=50)
    at = lms_errors_are_retried(first_failure=NOW, attempts=4, now=now, jitter=0.0, retry_after_seconds=7200)
    assert at == NOW + HORIZON


def test_rule10_gives_up_at_and_after_the_horizon() -> None:
    assert lms_errors_are_retried(first_failure=NOW, attempts=8, now=NOW + HORIZON, jitter=0.0) is None
    assert lms_errors_are_retried(first_failure=NOW, attempts=8, now=NOW + 2 * HORIZON, jitter=0.0) is None
    just_before = NOW + HORIZON - timedelta(milliseconds=1)
    assert lms_errors_are_retried(first_failure=NOW, attempts=8, now=just_before, jitter=0.0) == NOW + HORIZON


def test_rule10_a_custom_plan_is_used() -> None:
    plan = RetryPlan(base_seconds=2, cap_seconds=10, horizon_seconds=60)
    at = lms_errors_are_retried(first_failure=NOW, attempts=5, now=NOW, jitter=0.0, plan=plan)
    assert at == NOW + timedelta(seconds=5)
    assert (
        lms_errors_are_retried(first_failure=NOW, attempts=1, now=NOW + timedelta(seconds=60), jitter=0, plan=plan)
        is None
    )


jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


@given(
    attempts=st.integers(min_value=0, max_value=60),
    jitter=jitters,
    elapsed_ms=st.integers(min_value=0, max_value=2 * 3_600_000),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=10_000, allow_nan=False)),
)
def test_rule10_next_try_is_after_now_and_never_past_the_horizon(
    attempts: int, jitter: float, elapsed_ms: int, retry_after: float | None
) -> None:
    now = NOW + timedelta(milliseconds=elapsed_ms)
    deadline = NOW + HORIZON
    at = lms_errors_are_retried(
        first_failure=NOW, attempts=attempts, now=now, jitter=jitter, retry_after_seconds=retry_after
    )
    if now >= deadline:
        assert at is None
        return
    assert at is not None
    assert now < at <= deadline
    backoff = min(PLAN.cap_seconds, PLAN.base_seconds * 2 ** max(0, attempts - 1))
    floor = max(backoff * 0.5, retry_after or 0.0)
    assert at >= min(now + timedelta(seconds=floor) - timedelta(microseconds=1), deadline)
    if retry_after is None:
        assert at - now <= timedelta(seconds=PLAN.cap_seconds)


@given(attempts=st.integers(min_value=1, max_value=30), jitter=jitters)
def test_rule10_delays_never_shrink_as_attempts_grow(attempts: int, jitter: float) -> None:
    this = lms_errors_are_retried(first_failure=NOW, attempts=attempts, now=NOW, jitter=jitter)
    after = lms_errors_are_retried(first_failure=NOW, attempts=attempts + 1, now=NOW, jitter=jitter)
    assert this is not None
    assert after is not None
    assert after >= this
    if PLAN.base_seconds * 2**attempts <= PLAN.cap_seconds:
        assert after > this


@given(
    draws=st.lists(jitters, min_size=60, max_size=60),
    retry_afters=st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=1_200)), min_size=60, max_size=60),
)
def test_rule10_retries_stop_after_one_hour_with_the_last_try_exactly_at_the_horizon(
    draws: list[float], retry_afters: list[int | None]
) -> None:
    now, attempts, tries = NOW, 1, [NOW]
    while True:
        at = lms_errors_are_retried(
            first_failure=NOW,
            attempts=attempts,
            now=now,
            jitter=draws[attempts % len(draws)],
            retry_after_seconds=retry_afters[attempts % len(retry_afters)],
        )
        if at is None:
            break
        assert at > now
        tries.append(at)
        now, attempts = at, attempts + 1
        assert attempts < 60, "the schedule must end within the hour"
    assert tries[-1] == NOW + HORIZON
    assert tries == sorted(tries)


# --- the sync decision ----------------------------------------------------------------------------


def decide(
    owed: float | None = 80.0,
    *,
    released: bool = True,
    has_target: bool = True,
    merge_pending: bool = False,
    cell: CellState | None = None,
    forced: bool = False,
) -> Decision:
    return sync_decision(
        owed=owed,
        released=released,
        has_target=has_target,
        merge_pending=merge_pending,
        cell=cell or CellState(),
        now=NOW,
        forced=forced,
    )


def test_rule6_nothing_owed_records_below_threshold() -> None:
    assert decide(None) == Decision(Action.RECORD, status=CellStatus.BELOW_THRESHOLD)


def test_rule12_nothing_owed_with_a_merge_pending_records_merge_pending() -> None:
    assert decide(None, merge_pending=True) == Decision(Action.RECORD, status=CellStatus.MERGE_PENDING)


def test_rule8_not_released_records_not_released() -> None:
    assert decide(80.0, released=False) == Decision(Action.RECORD, status=CellStatus.NOT_RELEASED)
    assert decide(80.0, released=False, has_target=False).status is CellStatus.NOT_RELEASED


def test_rule9_no_target_records_no_target() -> None:
    assert decide(80.0, has_target=False) == Decision(Action.RECORD, status=CellStatus.NO_TARGET)


@pytest.mark.parametrize(
    ("owed", "released", "has_target", "merge_pending", "status"),
    [
        (None, True, True, False, CellStatus.BELOW_THRESHOLD),
        (None, True, True, True, CellStatus.MERGE_PENDING),
        (80.0, False, True, False, CellStatus.NOT_RELEASED),
        (80.0, True, False, False, CellStatus.NO_TARGET),
    ],
)
def test_rule10_recording_the_status_the_cell_already_has_is_nothing(
    owed: float | None, released: bool, has_target: bool, merge_pending: bool, status: CellStatus
) -> None:
    cell = CellState(status=status.value)
    assert decide(owed, released=released, has_target=has_target, merge_pending=merge_pending, cell=cell) == Decision(
        Action.NOTHING
    )
    forced = decide(owed, released=released, has_target=has_target, merge_pending=merge_pending, cell=cell, forced=True)
    assert forced == Decision(Action.NOTHING)


def test_rule9_a_new_target_sends_what_is_owed() -> None:
    cell = CellState(status=CellStatus.NO_TARGET.value)
    assert decide(80.0, cell=cell) == Decision(Action.SEND, value=80.0)


def test_rule8_release_sends_what_is_owed() -> None:
    cell = CellState(status=CellStatus.NOT_RELEASED.value)
    assert decide(80.0, cell=cell) == Decision(Action.SEND, value=80.0)


def test_rule10_already_synced_with_the_same_value_is_nothing() -> None:
    cell = CellState(status=CellStatus.SYNCED.value, sent_value=80.0)
    assert decide(80.0, cell=cell) == Decision(Action.NOTHING)
    assert decide(80.0, cell=cell, forced=True) == Decision(Action.NOTHING)


def test_rule6_synced_cell_with_a_new_score_sends_the_new_value() -> None:
    cell = CellState(status=CellStatus.SYNCED.value, sent_value=80.0)
    assert decide(85.0, cell=cell) == Decision(Action.SEND, value=85.0)


def test_rule10_retry_scheduled_in_the_future_waits_unless_forced() -> None:
    cell = CellState(status=CellStatus.RETRYING.value, failed_value=80.0, next_attempt=NOW + timedelta(seconds=30))
    assert decide(80.0, cell=cell) == Decision(Action.WAIT)
    assert decide(95.0, cell=cell) == Decision(Action.WAIT)
    assert decide(80.0, cell=cell, forced=True) == Decision(Action.SEND, value=80.0)


@pytest.mark.parametrize("next_attempt", [NOW, NOW - timedelta(seconds=1), None])
def test_rule10_retry_that_is_due_sends_the_latest_owed_value(next_attempt: datetime | None) -> None:
    cell = CellState(status=CellStatus.RETRYING.value, failed_value=80.0, next_attempt=next_attempt)
    assert decide(80.0, cell=cell) == Decision(Action.SEND, value=80.0)
    assert decide(92.0, cell=cell) == Decision(Action.SEND, value=92.0)


@pytest.mark.parametrize(
    "status", [CellStatus.LMS_ERROR, CellStatus.USER_NOT_IN_COURSE, CellStatus.LMS_NEWER, CellStatus.GAVE_UP]
)
def test_rule10_value_that_failed_permanently_is_not_resent_unless_forced_or_changed(status: CellStatus) -> None:
    cell = CellState(status=status.value, failed_value=80.0)
    assert decide(80.0, cell=cell) == Decision(Action.NOTHING)
    assert decide(80.0, cell=cell, forced=True) == Decision(Action.SEND, value=80.0)
    assert decide(81.0, cell=cell) == Decision(Action.SEND, value=81.0)


def test_rule10_fresh_cell_sends_the_owed_value() -> None:
    assert decide(80.0) == Decision(Action.SEND, value=80.0)
    assert decide(0.0) == Decision(Action.SEND, value=0.0)


statuses = st.one_of(st.none(), st.sampled_from([s.value for s in CellStatus]))
values = st.one_of(st.none(), st.sampled_from([0.0, 50.0, 80.0, 100.0]))


@given(
    owed=values,
    released=st.booleans(),
    has_target=st.booleans(),
    merge_pending=st.booleans(),
    status=statuses,
    sent=values,
    failed=values,
    next_offset=st.one_of(st.none(), st.integers(min_value=-100, max_value=100)),
    forced=st.booleans(),
)
def test_rule8_rule9_a_value_is_only_ever_sent_when_owed_released_and_targeted(
    owed: float | None,
    released: bool,
    has_target: bool,
    merge_pending: bool,
    status: str | None,
    sent: float | None,
    failed: float | None,
    next_offset: int | None,
    forced: bool,
) -> None:
    cell = CellState(
        status=status,
        sent_value=sent,
        failed_value=failed,
        next_attempt=None if next_offset is None else NOW + timedelta(seconds=next_offset),
    )
    decision = decide(
        owed, released=released, has_target=has_target, merge_pending=merge_pending, cell=cell, forced=forced
    )
    if decision.action is Action.SEND:
        assert owed is not None
        assert released
        assert has_target
        assert decision.value == owed
        assert not (status == CellStatus.SYNCED and sent == owed)
    elif decision.action is Action.RECORD:
        assert decision.status is not None
        assert decision.status.value != status
    else:
        assert decision.value is None
        assert decision.status is None


@pytest.mark.parametrize(
    "message",
    ["The user is not permitted to submit scores in this course", "Course is not open for grading"],
)
def test_rule11_permission_errors_are_not_taken_for_a_dropped_student(message: str) -> None:
    assert not user_is_not_in_course(message)
