"""The sync routine shared by every function: what a cell owes, and getting it into the LMS.

For one learner and one link: compute the owed grade (rules 4 to 7), decide (rules 8 to 12),
send it if the LMS does not have it, and record the outcome on the cell. Failures are state on
the cell (retried by the schedule), never exceptions that fail a queue message.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from passback.clock import utcnow
from passback.data.cells import CellRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.errors import Conflict
from passback.domain import delivery
from passback.domain.delivery import (
    CLAIM_LEASE,
    Action,
    CellState,
    CellStatus,
    Decision,
    RetryPlan,
    claim_is_live,
    next_score_timestamp,
    stops_sending,
    sync_decision,
)
from passback.domain.grading import Owed
from passback.domain.records import Attempt, CellRecord, CourseRecord, EnrollmentRecord, LinkRecord
from passback.domain.targets import Target
from passback.lms.errors import LmsError
from passback.lms.gateway import LmsGateway
from passback.observability import count, logger
from passback.services.owed import link_owes, link_target
from passback.services.sync_failures import failed_cell, status_message

_TERMINAL = {CellStatus.LMS_ERROR, CellStatus.USER_NOT_IN_COURSE, CellStatus.LMS_NEWER, CellStatus.GAVE_UP}
# link_owes and link_target moved to services/owed.py; callers still import them from here.
__all__ = ["SyncOutcome", "SyncService", "link_owes", "link_target"]

_RACES = 8
_EXPIRE_TRIES = 4


# Clears a claim (and the marks left on it) from a cell being written.
_UNCLAIMED: dict[str, Any] = {"claim_id": None, "claim_until": None, "claim_value": None, "dirty": False}


@dataclass
class _Snapshot:
    """What one sync of one cell currently believes; `fresh` once course and enrollment were read now."""

    course: CourseRecord
    link: LinkRecord
    enrollment: EnrollmentRecord
    cell: CellRecord | None
    fresh: bool = False

    def current(self) -> CellRecord:
        cell = self.cell or CellRecord(
            course_id=self.course.course_id, learner_id=self.enrollment.learner_id, link_id=self.link.link_id
        )
        if cell.status == CellStatus.SYNCED and self.link.sent_to_old_column(cell.sent_at):
            cell = replace(cell, status=None, sent_value=None)  # the LMS lost it with its column
        return cell


@dataclass(frozen=True)
class SyncOutcome:
    link_id: str
    learner_id: str
    status: str | None
    sent: bool


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
        """Bring one cell up to date under the send protocol (docs/architecture.md, "A cell's states").

        `cell` must have been read (consistently) after the caller's own writes to the grades.
        A send first claims the cell (a conditional write that also reserves the next timestamp),
        then reads what is owed again, posts, and records the answer while releasing the claim.
        Anyone who finds the claim held by a sender of another value leaves a dirty mark instead
        of sending; the holder decides again, on fresh reads, after recording.
        """
        state = _Snapshot(course, link, enrollment, cell)
        rounds = 0
        while rounds < _RACES:
            rounds += 1
            try:
                done = self._step(state, now, forced=forced, origin=origin)
            except Conflict:
                # Someone else wrote the cell (a claim, a release, a launch): decide again on fresh data.
                self._reread(state, cell_only=True)
                continue
            if done is not None:
                return done
            # We recorded an answer while someone marked the cell: decide again on what is owed now.
            forced = False
            self._reread(state, cell_only=False)
        raise Conflict(f"cell {course.course_id}/{enrollment.learner_id}/{link.link_id} kept changing")

    def _reread(self, state: _Snapshot, *, cell_only: bool) -> None:
        course_id, learner_id = state.course.course_id, state.enrollment.learner_id
        state.cell = self.cells.get(course_id, learner_id, state.link.link_id, consistent=True)
        # Whatever was read before this cell is older than it: a status that stops sending must read again.
        state.fresh = False
        if not cell_only and self._reread_owed(state):
            state.fresh = True

    def _reread_owed(self, state: _Snapshot, *, course_too: bool = True) -> bool:
        """Read the enrollment (and the course) as they are now; False if either is gone.

        Under a claim on an activity link the course need not be read again: release is a fact
        (once released, always), so a snapshot that says "released" is still true, and one that
        says "not released" never sends. A homepage composite depends on which activities are
        released and assigned, so it reads the course again.
        """
        course_id, learner_id = state.course.course_id, state.enrollment.learner_id
        course = self.courses.get(course_id, consistent=True) if course_too else state.course
        enrollment = self.enrollments.get(course_id, learner_id, consistent=True)
        if course is None or enrollment is None:
            return False
        state.course, state.enrollment = course, enrollment
        state.link = course.links.get(state.link.link_id, state.link)
        return True

    def _decide(self, state: _Snapshot, now: datetime, forced: bool) -> tuple[Decision, Owed, Target | str]:
        owed = link_owes(state.course, state.enrollment, state.link, now)
        target = link_target(state.course, state.link, state.enrollment, state.cell)
        current = state.current()
        live = claim_is_live(current.claim_id, current.claim_until, now)
        decision = sync_decision(
            owed=owed.value,
            released=owed.released,
            has_target=not isinstance(target, str),
            merge_pending=state.enrollment.merge_pending,
            cell=CellState(
                status=current.status,
                sent_value=current.sent_value,
                failed_value=current.failed_value,
                next_attempt=current.next_attempt_at,
                claimed=live,
                claimed_value=current.claim_value if live else None,
            ),
            now=now,
            forced=forced,
            withheld=owed.withheld,
        )
        return decision, owed, target

    def _blocked(self, state: _Snapshot, now: datetime) -> SyncOutcome | None:
        """Known before any POST: a deleted column (recreate it) or a learner the roster says left."""
        link, enrollment = state.link, state.enrollment
        blocked = delivery.lms_blocks(column_deleted=link.column_deleted, in_course=enrollment.in_course)
        if blocked is None:
            return None
        owed = link_owes(state.course, enrollment, link, now)
        current = state.current()
        if current.status == blocked and current.owed_value == owed.value:
            return self._outcome(state, current, sent=False)
        if claim_is_live(current.claim_id, current.claim_until, now):
            # Someone is sending: it decides again afterwards and records this itself.
            if not current.dirty:
                self.cells.save(replace(current, dirty=True))
            return self._outcome(state, current, sent=False)
        message = delivery.COLUMN_DELETED_EXPLANATION if link.column_deleted else delivery.NOT_IN_COURSE_BY_ROSTER
        saved = self.cells.save(
            replace(
                current,
                status=blocked,
                message=message,
                owed_value=owed.value,
                next_attempt_at=None,
                updated_at=now,
                **_UNCLAIMED,
            )
        )
        return self._outcome(state, saved, sent=False)

    def _step(self, state: _Snapshot, now: datetime, *, forced: bool, origin: datetime | None) -> SyncOutcome | None:
        """One pass: decide, write, maybe send. None when the cell must be decided again."""
        blocked = self._blocked(state, now)
        if blocked is not None:
            return blocked
        decision, owed, target = self._decide(state, now, forced)
        if decision.action is Action.RECORD and stops_sending(decision.status) and not state.fresh:
            # Never stop sending on a snapshot (a batch's cached course): the release state as it is now.
            if not self._reread_owed(state):
                return self._outcome(state, state.current(), sent=False)
            state.fresh = True
            decision, owed, target = self._decide(state, now, forced)
        current = state.current()
        if decision.action in (Action.NOTHING, Action.WAIT):
            if current.claim_id is not None and not claim_is_live(current.claim_id, current.claim_until, now):
                # A sender died holding the claim, and nothing is owed now: take its leftovers off the cell.
                current = self.cells.save(replace(current, **_UNCLAIMED))
            return self._outcome(state, current, sent=False)
        if decision.action is Action.DEFER:
            if not current.dirty:
                self.cells.save(replace(current, dirty=True))
                count("SendDeferred")
            return self._outcome(state, current, sent=False)
        if decision.action is Action.RECORD:
            assert decision.status is not None
            saved = self.cells.save(
                replace(
                    current,
                    status=decision.status,
                    message=status_message(decision.status, target),
                    owed_value=owed.value,
                    next_attempt_at=None,
                    updated_at=now,
                    **_UNCLAIMED,
                )
            )
            return self._outcome(state, saved, sent=False)
        assert decision.value is not None
        claimed = self.cells.save(
            replace(
                current,
                claim_id=uuid.uuid4().hex,
                # From when the claim is taken: `now` is the invocation's, maybe long ago (a release chunk).
                claim_until=max(now, utcnow()) + CLAIM_LEASE,
                claim_value=decision.value,
                sent_ts=next_score_timestamp(current.sent_ts, now),
                dirty=False,
            )
        )
        try:
            return self._send_claimed(state, claimed, now, forced=forced, origin=origin)
        except BaseException:
            self._expire_claim(claimed, now)
            raise

    def _expire_claim(self, claimed: CellRecord, now: datetime) -> None:
        """A crash under our claim (a throttled read, say): end the claim now, so the redelivery of our
        input (or, if someone marked the cell, the sweep through `due`) takes the cell over at once
        instead of after the lease. Tried a few times (what crashed us may still be there); if it
        never works, the lease still ends."""
        error: Exception | None = None
        for _ in range(_EXPIRE_TRIES):
            try:
                current = self.cells.get(claimed.course_id, claimed.learner_id, claimed.link_id, consistent=True)
                if current is not None and current.claim_id == claimed.claim_id:
                    self.cells.save(replace(current, claim_until=now))
                return
            except Exception as failed:
                error = failed
        logger.warning(
            "could not end a claim after a crash; it ends with its lease",
            extra={"course": claimed.course_id, "link": claimed.link_id, "error": repr(error)[:200]},
        )

    def _send_claimed(
        self, state: _Snapshot, claimed: CellRecord, now: datetime, *, forced: bool, origin: datetime | None
    ) -> SyncOutcome | None:
        """We hold the claim: read what is owed now, send it, record the answer and release the claim."""
        state.cell = claimed
        course_too = state.link.is_homepage
        if not self._reread_owed(state, course_too=course_too):
            self.cells.save(replace(claimed, **_UNCLAIMED))
            return self._outcome(state, claimed, sent=False)
        state.fresh = state.fresh or course_too
        # Decide as if unclaimed: the claim is ours.
        state.cell = replace(claimed, claim_id=None, claim_until=None, claim_value=None)
        decision, owed, target = self._decide(state, now, forced)
        state.cell = claimed
        if decision.action is not Action.SEND or isinstance(target, str):
            # What is owed changed since we decided; the LMS need not hear from us. Release the claim.
            released = replace(claimed, **_UNCLAIMED)
            if decision.action is Action.RECORD and decision.status is not None:
                released = replace(
                    released,
                    status=decision.status,
                    message=status_message(decision.status, target),
                    owed_value=owed.value,
                    next_attempt_at=None,
                    updated_at=now,
                )
            saved, again = self._record(released, claimed)
            return None if again else self._outcome(state, saved, sent=False)
        assert decision.value is not None
        value = decision.value
        timestamp = int(claimed.sent_ts or next_score_timestamp(None, now))
        cell = claimed
        if forced or cell.status != CellStatus.RETRYING:
            # A new episode: resync, a new value after giving up, or the first failure.
            cell = replace(cell, attempts=0, first_failure_at=None)
        course, link, enrollment = state.course, state.link, state.enrollment
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
            sent = False
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
            sent = True
            count("Sent")
            if origin is not None:
                count("ScoreToLmsLatency", max(0.0, (now - origin).total_seconds() * 1000), unit="Milliseconds")
            logger.info("passback sent", extra={**log, "outcome": "synced"})
        saved, again = self._record(replace(updated, **_UNCLAIMED), claimed)
        if again:
            return None
        return self._outcome(state, saved, sent=sent and saved.status == CellStatus.SYNCED)

    def _record(self, updated: CellRecord, claimed: CellRecord) -> tuple[CellRecord, bool]:
        """Record the answer and release our claim; True when someone marked the cell meanwhile.

        The LMS call happened, so a lost race must not lose its answer: while the claim is still
        ours, only marks (and a launch's new target) can have been written, and they are kept.
        """
        again = False
        for _ in range(_RACES):
            try:
                return self.cells.save(updated), again
            except Conflict:
                theirs = self.cells.get(claimed.course_id, claimed.learner_id, claimed.link_id, consistent=True)
                if theirs is None or theirs.claim_id != claimed.claim_id:
                    # We outlived the lease and someone took the cell over: the answer is theirs to record.
                    logger.warning(
                        "claim taken over before the answer was recorded",
                        extra={"course": claimed.course_id, "learner": claimed.learner_id, "link": claimed.link_id},
                    )
                    count("ClaimLost")
                    return theirs or updated, False
                again = again or theirs.dirty
                updated = replace(
                    updated,
                    version=theirs.version,
                    sourcedid=theirs.sourcedid,
                    outcome_service_url=theirs.outcome_service_url,
                )
        raise Conflict(f"cell {claimed.course_id}/{claimed.learner_id}/{claimed.link_id} kept changing")

    def _outcome(self, state: _Snapshot, cell: CellRecord, *, sent: bool) -> SyncOutcome:
        return SyncOutcome(state.link.link_id, state.enrollment.learner_id, cell.status, sent=sent)

    def _failed(
        self, cell: CellRecord, error: LmsError, value: float, timestamp: int, owed: Owed, now: datetime, target: Target
    ) -> CellRecord:
        return failed_cell(
            cell,
            error,
            value,
            timestamp,
            owed,
            now,
            target,
            retry_plan=self.retry_plan,
            jitter=self._jitter,
            courses=self.courses,
        )
