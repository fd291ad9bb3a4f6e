"""The sync routine shared by every function: what a cell owes, and getting it into the LMS.

For one learner and one link: compute the owed grade (rules 4 to 7), decide (rules 8 to 12),
send it if the LMS does not have it, and record the outcome on the cell. Failures are state on
the cell (retried by the schedule), never exceptions that fail a queue message.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from passback.data.cells import CellRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.errors import Conflict
from passback.domain import delivery
from passback.domain.delivery import (
    Action,
    CellState,
    CellStatus,
    FailureKind,
    RetryPlan,
    lms_errors_are_retried,
    next_score_timestamp,
    sync_decision,
)
from passback.domain.grading import AssignedActivity, Owed, two_link_styles
from passback.domain.migration import migrated_target
from passback.domain.records import Attempt, CellRecord, CourseRecord, EnrollmentRecord, LinkRecord
from passback.domain.targets import AgsTarget, Target, no_target_no_passback
from passback.lms.errors import LmsError
from passback.lms.gateway import LmsGateway
from passback.observability import count, logger

_TERMINAL = {CellStatus.LMS_ERROR, CellStatus.USER_NOT_IN_COURSE, CellStatus.LMS_NEWER, CellStatus.GAVE_UP}
_RACES = 4


@dataclass(frozen=True)
class SyncOutcome:
    link_id: str
    learner_id: str
    status: str | None
    sent: bool


def link_owes(course: CourseRecord, enrollment: EnrollmentRecord, link: LinkRecord, now: datetime) -> Owed:
    assigned = []
    for activity in course.activities.values():
        entry = enrollment.grades.get(activity.idx)
        assigned.append(
            AssignedActivity(
                activity_id=activity.activity_id,
                released=course.released(activity.activity_id, now),
                grade=entry.value if entry else None,
                answered=entry.answered if entry else 0,
            )
        )
    return two_link_styles(link.activity_id, assigned)


def link_target(
    course: CourseRecord, link: LinkRecord, enrollment: EnrollmentRecord, cell: CellRecord | None
) -> Target | str:
    if course.lti13_issuer:  # an LTI 1.1 course now launched through 1.3: each link its protocol
        return migrated_target(
            link_lti_version=link.lti_version,
            line_item_url=link.line_item_url,
            lti13_user_id=enrollment.lti13_user_id,
            outcome_service_url=cell.outcome_service_url if cell else None,
            sourcedid=cell.sourcedid if cell else None,
        )
    return no_target_no_passback(
        lti_version=course.lti_version,
        line_item_url=link.line_item_url,
        lms_user_id=enrollment.lms_user_id,
        outcome_service_url=cell.outcome_service_url if cell else None,
        sourcedid=cell.sourcedid if cell else None,
    )


class SyncService:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        cells: CellRepository,
        lms: LmsGateway,
        *,
        retry_plan: RetryPlan | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.courses = courses
        self.enrollments = enrollments
        self.cells = cells
        self.lms = lms
        self.retry_plan = retry_plan or RetryPlan()
        self._jitter = jitter

    def sync_learner(
        self,
        course: CourseRecord,
        learner_id: str,
        now: datetime,
        *,
        link_ids: Iterable[str] | None = None,
        forced: bool = False,
        enrollment: EnrollmentRecord | None = None,
        origin: datetime | None = None,
        cells: dict[str, CellRecord] | None = None,
    ) -> list[SyncOutcome]:
        """Sync one learner's cells in one course (all links, or just `link_ids`).

        `cells` are the learner's cells by link when the caller read them already (a chunk's
        cells in one Query); a stale one only costs a Conflict and a fresh read.
        """
        enrollment = enrollment or self.enrollments.get(course.course_id, learner_id)
        if enrollment is None or enrollment.is_instructor:
            return []
        wanted = set(link_ids) if link_ids is not None else None
        links = [link for link in course.links.values() if wanted is None or link.link_id in wanted]
        if not links:
            return []
        if cells is None:
            cells = self.cells.for_learner(course.course_id, learner_id)
        return [
            self.sync_cell(course, link, enrollment, cells.get(link.link_id), now, forced=forced, origin=origin)
            for link in links
        ]

    def sync_cell(
        self,
        course: CourseRecord,
        link: LinkRecord,
        enrollment: EnrollmentRecord,
        cell: CellRecord | None,
        now: datetime,
        *,
        forced: bool = False,
        origin: datetime | None = None,
    ) -> SyncOutcome:
        for _ in range(_RACES):
            try:
                return self._sync_once(course, link, enrollment, cell, now, forced=forced, origin=origin)
            except Conflict:
                # Someone else wrote the cell (a release racing a score, say): decide again on fresh data.
                fresh = self.courses.get(course.course_id)
                course = fresh or course
                link = course.links.get(link.link_id, link)
                enrollment = (
                    self.enrollments.get(course.course_id, enrollment.learner_id, consistent=True) or enrollment
                )
                cell = self.cells.get(course.course_id, enrollment.learner_id, link.link_id)
        raise Conflict(f"cell {course.course_id}/{enrollment.learner_id}/{link.link_id} kept changing")

    def _sync_once(
        self,
        course: CourseRecord,
        link: LinkRecord,
        enrollment: EnrollmentRecord,
        cell: CellRecord | None,
        now: datetime,
        *,
        forced: bool,
        origin: datetime | None,
    ) -> SyncOutcome:
        owed = link_owes(course, enrollment, link, now)
        target = link_target(course, link, enrollment, cell)
        current = cell or CellRecord(course_id=course.course_id, learner_id=enrollment.learner_id, link_id=link.link_id)
        if current.status == CellStatus.SYNCED and link.sent_to_old_column(current.sent_at):
            current = replace(current, status=None, sent_value=None)  # the LMS lost it with its column
        blocked = delivery.lms_blocks(column_deleted=link.column_deleted, in_course=enrollment.in_course)
        if blocked is not None:
            # Known before any POST: a deleted column (recreate it) or a learner the roster says left.
            if current.status == blocked and current.owed_value == owed.value:
                return SyncOutcome(link.link_id, enrollment.learner_id, current.status, sent=False)
            message = delivery.COLUMN_DELETED_EXPLANATION if link.column_deleted else delivery.NOT_IN_COURSE_BY_ROSTER
            saved = self.cells.save(
                replace(
                    current,
                    status=blocked,
                    message=message,
                    owed_value=owed.value,
                    next_attempt_at=None,
                    updated_at=now,
                )
            )
            return SyncOutcome(link.link_id, enrollment.learner_id, saved.status, sent=False)
        decision = sync_decision(
            owed=owed.value,
            released=owed.released,
            has_target=not isinstance(target, str),
            merge_pending=enrollment.merge_pending,
            cell=CellState(
                status=current.status,
                sent_value=current.sent_value,
                failed_value=current.failed_value,
                next_attempt=current.next_attempt_at,
            ),
            now=now,
            forced=forced,
        )
        if decision.action in (Action.NOTHING, Action.WAIT):
            return SyncOutcome(link.link_id, enrollment.learner_id, current.status, sent=False)
        if decision.action is Action.RECORD:
            assert decision.status is not None
            message = _status_message(decision.status, target)
            saved = self.cells.save(
                replace(
                    current,
                    status=decision.status,
                    message=message,
                    owed_value=owed.value,
                    next_attempt_at=None,
                    updated_at=now,
                )
            )
            return SyncOutcome(link.link_id, enrollment.learner_id, saved.status, sent=False)
        assert decision.value is not None
        assert not isinstance(target, str)
        return self._send(course, link, enrollment, current, target, decision.value, owed, now, forced, origin)

    def _send(
        self,
        course: CourseRecord,
        link: LinkRecord,
        enrollment: EnrollmentRecord,
        cell: CellRecord,
        target: Target,
        value: float,
        owed: Owed,
        now: datetime,
        forced: bool,
        origin: datetime | None,
    ) -> SyncOutcome:
        timestamp = next_score_timestamp(cell.sent_ts, now)
        if forced or cell.status != CellStatus.RETRYING:
            # A new episode: resync, a new value after giving up, or the first failure.
            cell = replace(cell, attempts=0, first_failure_at=None)
        log = {
            "course": course.course_id,
            "learner": enrollment.learner_id,
            "link": link.link_id,
            "platform": course.platform_id,
            "value": value,
        }
        try:
            self.lms.send(course, link, target, value, timestamp, answered=owed.answered)
        except LmsError as error:
            updated = self._failed(cell, error, value, timestamp, owed, now, target)
            logger.warning(
                "passback failed",
                extra={
                    **log,
                    "outcome": updated.status,
                    "lms_status": error.status,
                    "lms_message": error.message,
                    "attempts": updated.attempts,
                },
            )
        else:
            updated = replace(
                cell,
                status=CellStatus.SYNCED,
                message=None,
                owed_value=value,
                sent_value=value,
                sent_at=now,
                sent_ts=timestamp,
                failed_value=None,
                attempts=0,
                first_failure_at=None,
                next_attempt_at=None,
                history=(*cell.history, Attempt(at=now, value=value, outcome="synced", status=200, message="")),
                updated_at=now,
            )
            count("Sent")
            if origin is not None:
                count("ScoreToLmsLatency", max(0.0, (now - origin).total_seconds() * 1000), unit="Milliseconds")
            logger.info("passback sent", extra={**log, "outcome": "synced"})
        saved = self._save_after_send(updated)
        return SyncOutcome(link.link_id, enrollment.learner_id, saved.status, sent=saved.status == CellStatus.SYNCED)

    def _failed(
        self,
        cell: CellRecord,
        error: LmsError,
        value: float,
        timestamp: int,
        owed: Owed,
        now: datetime,
        target: Target | None = None,
    ) -> CellRecord:
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
                jitter=self._jitter(),
                retry_after_seconds=error.retry_after,
                plan=self.retry_plan,
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
            self.courses.mark_line_item_deleted(cell.course_id, cell.link_id, target.line_item_url)
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

    def _save_after_send(self, updated: CellRecord) -> CellRecord:
        """Record what the LMS answered. The LMS call happened, so a lost race must not lose it."""
        for _ in range(_RACES):
            try:
                return self.cells.save(updated)
            except Conflict:
                theirs = self.cells.get(updated.course_id, updated.learner_id, updated.link_id)
                if theirs is None:
                    updated = replace(updated, version=None)
                    continue
                if (theirs.sent_ts or 0) > (updated.sent_ts or 0):
                    return theirs  # a later send already recorded a newer outcome
                updated = replace(updated, version=theirs.version, history=(*theirs.history, *updated.history[-1:]))
        raise Conflict(f"cell {updated.course_id}/{updated.learner_id}/{updated.link_id} kept changing")


def _status_message(status: CellStatus, target: Target | str) -> str:
    if status is CellStatus.NO_TARGET and isinstance(target, str):
        return target
    if status is CellStatus.NOT_RELEASED:
        return delivery.NOT_RELEASED_MESSAGE
    if status is CellStatus.MERGE_PENDING:
        return delivery.MERGE_PENDING_MESSAGE
    return delivery.BELOW_THRESHOLD_MESSAGE
