"""What a cell records when the LMS says no, and the messages of statuses that send nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from passback.data.courses import CourseRepository
from passback.domain import delivery
from passback.domain.delivery import CellStatus, FailureKind, RetryPlan, lms_errors_are_retried
from passback.domain.grading import Owed
from passback.domain.records import Attempt, CellRecord
from passback.domain.targets import AgsTarget, Target
from passback.lms.errors import LmsError
from passback.observability import count


def failed_cell(
    cell: CellRecord,
    error: LmsError,
    value: float,
    timestamp: int,
    owed: Owed,
    now: datetime,
    target: Target | None,
    *,
    retry_plan: RetryPlan,
    jitter: Callable[[], float],
    courses: CourseRepository,
) -> CellRecord:
    """The cell after the LMS refused (rules 10 and 11): retry at, gave up, or why it is stuck."""
    attempts = cell.attempts + (0 if error.deferred else 1)
    first = cell.first_failure_at or now
    attempt = Attempt(at=now, value=value, outcome=error.kind.value, status=error.status, message=error.message)
    history = cell.history if error.deferred else (*cell.history, attempt)
    base = replace(
        cell,
        owed_value=owed.value,
        failed_value=value,
        sent_ts=max(cell.sent_ts or 0, timestamp),
        attempts=attempts,
        first_failure_at=first,
        history=history,
        updated_at=now,
    )
    if error.kind is FailureKind.RETRYABLE:
        at = lms_errors_are_retried(
            first_failure=first,
            attempts=max(1, attempts),
            now=now,
            jitter=jitter(),
            retry_after_seconds=error.retry_after,
            plan=retry_plan,
        )
        if at is None:
            count("GaveUp")
            return replace(
                base,
                status=CellStatus.GAVE_UP,
                next_attempt_at=None,
                message=f"{error.message} Gave up after an hour of failures: use resync.",
            )
        count("FailedRetryable")
        return replace(base, status=CellStatus.RETRYING, next_attempt_at=at, message=error.message)
    if error.kind is FailureKind.USER_NOT_IN_COURSE:
        count("UserNotInCourse")
        return replace(
            base,
            status=CellStatus.USER_NOT_IN_COURSE,
            next_attempt_at=None,
            message=f"{error.message} {delivery.USER_NOT_IN_COURSE_EXPLANATION}",
        )
    if error.kind is FailureKind.COLUMN_DELETED and isinstance(target, AgsTarget):
        # Every cell of the link shares the column: mark the link so none of them POSTs again.
        courses.mark_line_item_deleted(cell.course_id, cell.link_id, target.line_item_url)
        return replace(
            base,
            status=CellStatus.COLUMN_DELETED,
            next_attempt_at=None,
            message=delivery.COLUMN_DELETED_EXPLANATION,
        )
    if error.kind is FailureKind.LMS_NEWER:
        count("LmsNewer")
        return replace(
            base,
            status=CellStatus.LMS_NEWER,
            next_attempt_at=None,
            message=f"{error.message} {delivery.LMS_NEWER_EXPLANATION}",
        )
    count("FailedPermanent")
    return replace(base, status=CellStatus.LMS_ERROR, next_attempt_at=None, message=error.message)


def status_message(status: CellStatus, target: Target | str) -> str:
    if status is CellStatus.NO_TARGET and isinstance(target, str):
        return target
    if status is CellStatus.NOT_RELEASED:
        return delivery.NOT_RELEASED_MESSAGE
    if status is CellStatus.MERGE_PENDING:
        return delivery.MERGE_PENDING_MESSAGE
    if status is CellStatus.NO_ZERO_FILL:
        return delivery.NO_ZERO_FILL_MESSAGE
    return delivery.BELOW_THRESHOLD_MESSAGE
