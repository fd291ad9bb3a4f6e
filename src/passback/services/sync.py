"""The sync routine shared by every function: what a cell owes, and getting it into the LMS.

For one learner and one link: compute the owed grade (rules 4 to 7), decide (rules 8 to 12),
send it if the LMS does not have it, and record the outcome on the cell. Failures are state on
the cell (retried by the schedule), never exceptions that fail a queue message.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
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
    claim_timestamp,
    stops_sending,
    sync_decision,
)
from passback.domain.grading import Owed
from passback.domain.records import Attempt, CellRecord, ClaimEntry, CourseRecord, EnrollmentRecord, LinkRecord
from passback.domain.targets import Target
from passback.lms.errors import LmsError
from passback.lms.gateway import LmsGateway
from passback.observability import count, logger
from passback.services.owed import link_owes, link_target
from passback.services.sync_failures import failed_cell, status_message

# link_owes and link_target moved to services/owed.py; callers still import them from here.
__all__ = ["SyncOutcome", "SyncService", "link_owes", "link_target"]

_RACES = 8
_EXPIRE_TRIES = 4

# Clears the mark left on a cell (by a sender who found a claim live) from a cell being written.
_UNMARKED: dict[str, Any] = {"mark_for": None, "mark_until": None}


@dataclass
class _Snapshot:
    """What one sync of one cell currently believes; `fresh` once course and enrollment were read now.

    `held`: the claims this sync holds (taken here, or by the score batch's grade write).
    """

    course: CourseRecord
    link: LinkRecord
    enrollment: EnrollmentRecord
    cell: CellRecord | None
    held: set[str] = field(default_factory=set)
    fresh: bool = False
    # Claims taken here go on `due` at their lease end (request paths: see `take_claim`).
    indexed: bool = False

    def current(self) -> CellRecord:
        cell = self.cell or CellRecord(
            course_id=self.course.course_id, learner_id=self.enrollment.learner_id, link_id=self.link.link_id
        )
        if cell.status == CellStatus.SYNCED and self.link.sent_to_old_column(cell.sent_at):
            cell = replace(cell, status=None, sent_value=None)  # the LMS lost it with its column
        return cell

    def last_claim(self) -> ClaimEntry | None:
        return self.enrollment.claims.get(self.link.link_id)

    def live_claim(self, now: datetime) -> ClaimEntry | None:
        """Another sender's claim on this cell, if it still holds."""
        claim = self.last_claim()
        if claim is None or claim.claim_id in self.held:
            return None
        return claim if claim_is_live(claim.claim_id, claim.until, self.current().done_claim, now) else None

    def held_claim(self) -> ClaimEntry | None:
        """Our own claim on this cell, not yet released."""
        claim = self.last_claim()
        if claim is None or claim.claim_id not in self.held or claim.claim_id == self.current().done_claim:
            return None
        return claim


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
        held: Collection[str] = (),
        indexed: bool = False,
    ) -> list[SyncOutcome]:
        """Sync one learner's cells in one course (all links, or just `link_ids`).

        `cells` are the learner's cells by link when the caller read them already (a chunk's
        cells in one Query); a stale one only costs a Conflict and a fresh read. `held`: claims
        the caller took for this learner's cells (the score batch, with its grade write).
        `indexed`: claims taken here are indexed, so the sweep recovers them if this sender dies.
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
            self.sync_cell(
                course,
                link,
                enrollment,
                cells.get(link.link_id),
                now,
                forced=forced,
                origin=origin,
                held=held,
                indexed=indexed,
            )
            for link in links
        ]

    def claims_to_take(
        self,
        course: CourseRecord,
        enrollment: EnrollmentRecord,
        cells: Mapping[str, CellRecord],
        held: Collection[str],
        now: datetime,
    ) -> dict[str, ClaimEntry]:
        """The score path's claims: the cells a grade write leaving `enrollment` would send to.

        Taken in that same write (one conditional update of the enrollment), so a score costs no
        write of its own for the claim. A cell with another sender's live claim is not claimed
        (the sync after the batch leaves it a mark); one this batch holds already stays held.
        `cells` must have been read (consistently) before the enrollment the write is conditional on.
        """
        if enrollment.is_instructor:
            return {}
        wanted: dict[str, ClaimEntry] = {}
        for link in course.links.values():
            state = _Snapshot(course, link, enrollment, cells.get(link.link_id), held=set(held))
            if delivery.lms_blocks(column_deleted=link.column_deleted, in_course=enrollment.in_course) is not None:
                continue
            decision, _, target = self._decide(state, now, forced=False)
            if decision.action is Action.SEND and not isinstance(target, str) and state.held_claim() is None:
                wanted[link.link_id] = _new_claim(state, now)
        return wanted

    def release_held(
        self, course: CourseRecord, enrollment: EnrollmentRecord, held: Collection[str], now: datetime
    ) -> None:
        """A score batch's sync crashed before sending under the claims it took with its grade
        writes: release them now (as a crash under a claim does), so its redelivered messages take
        the cells over at once instead of after the lease."""
        for link in course.links.values():
            claim = enrollment.claims.get(link.link_id)
            if claim is not None and claim.claim_id in held:
                self._expire_claim(_Snapshot(course, link, enrollment, None, held=set(held)), claim, now)

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
        held: Collection[str] = (),
        indexed: bool = False,
    ) -> SyncOutcome:
        """Bring one cell up to date under the send protocol (docs/architecture.md, "A cell's states").

        `cell` must have been read (consistently) after the caller's own writes to the grades.
        A send first claims the cell (a conditional update of the enrollment, which also reserves
        the next timestamp and returns what is owed under the claim), posts, and records the
        answer on the cell, which releases the claim. Anyone who finds the claim live leaves a
        mark on the cell instead of sending; the holder's answer then loses its conditional write,
        and the holder decides again, on fresh reads, after recording.
        """
        state = _Snapshot(course, link, enrollment, cell, held=set(held), indexed=indexed)
        rounds = 0
        while rounds < _RACES:
            rounds += 1
            try:
                done = self._step(state, now, forced=forced, origin=origin)
            except Conflict:
                # Someone else wrote the cell or the enrollment (a claim, a mark, a grade, a launch):
                # decide again on fresh data.
                if not self._reread(state, owed_too=False):
                    return self._outcome(state, state.current(), sent=False)
                continue
            if done is not None:
                return done
            # We recorded an answer while someone wrote the cell: decide again on what is owed now.
            forced = False
            if not self._reread(state, owed_too=True):
                return self._outcome(state, state.current(), sent=False)
        raise Conflict(f"cell {course.course_id}/{enrollment.learner_id}/{link.link_id} kept changing")

    def _reread(self, state: _Snapshot, *, owed_too: bool) -> bool:
        """Read the cell, then the enrollment (and, `owed_too`, the course) as they are now.

        False when the enrollment is gone (a merge moved the learner away).
        """
        course_id, learner_id = state.course.course_id, state.enrollment.learner_id
        state.cell = self.cells.get(course_id, learner_id, state.link.link_id, consistent=True)
        # Whatever was read before this cell is older than it: a status that stops sending must read again.
        state.fresh = False
        if owed_too:
            return self._reread_owed(state)
        enrollment = self.enrollments.get(course_id, learner_id, consistent=True)
        if enrollment is None:
            return False
        state.enrollment = enrollment
        return True

    def _reread_owed(self, state: _Snapshot, *, course_too: bool = True) -> bool:
        """Read the enrollment (and the course) as they are now; False if either is gone."""
        course_id, learner_id = state.course.course_id, state.enrollment.learner_id
        course = self.courses.get(course_id, consistent=True) if course_too else state.course
        enrollment = self.enrollments.get(course_id, learner_id, consistent=True)
        if course is None or enrollment is None:
            return False
        state.course, state.enrollment = course, enrollment
        state.link = course.links.get(state.link.link_id, state.link)
        state.fresh = True
        return True

    def _decide(self, state: _Snapshot, now: datetime, forced: bool) -> tuple[Decision, Owed, Target | str]:
        owed = link_owes(state.course, state.enrollment, state.link, now)
        target = link_target(state.course, state.link, state.enrollment, state.cell)
        current = state.current()
        live = state.live_claim(now) is not None
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
            ),
            now=now,
            forced=forced,
            withheld=owed.withheld,
        )
        return decision, owed, target

    def _mark(self, state: _Snapshot, claim: ClaimEntry) -> CellRecord:
        """Leave a mark for the live claim's holder; Conflict if the cell changed since it was read.

        Written even when the cell read already carries this claim's mark: that read may be older
        than our grade write (a score batch reads its cells first), and the holder may have recorded
        and decided again since, without our grade. Only our conditional write orders us against
        the holder's record (docs/architecture.md, rule 5).
        """
        count("SendDeferred")
        return self.cells.save(replace(state.current(), mark_for=claim.claim_id, mark_until=claim.until))

    def _blocked(self, state: _Snapshot, now: datetime) -> SyncOutcome | None:
        """Known before any POST: a deleted column (recreate it) or a learner the roster says left."""
        link, enrollment = state.link, state.enrollment
        blocked = delivery.lms_blocks(column_deleted=link.column_deleted, in_course=enrollment.in_course)
        if blocked is None:
            return None
        owed = link_owes(state.course, enrollment, link, now)
        current = state.current()
        held = state.held_claim()
        if current.status == blocked and current.owed_value == owed.value and held is None:
            return self._outcome(state, current, sent=False)
        if not state.fresh:
            # Both stop sending: decide on the roster word and the column as they are now, not as a
            # chunk's page of enrollments had them (a launch may have brought the learner back since).
            if not self._reread_owed(state):
                return self._outcome(state, state.current(), sent=False)
            return self._blocked(state, now)
        live = state.live_claim(now)
        if live is not None:
            # Someone is sending: it decides again afterwards and records this itself.
            return self._outcome(state, self._mark(state, live), sent=False)
        message = delivery.COLUMN_DELETED_EXPLANATION if link.column_deleted else delivery.NOT_IN_COURSE_BY_ROSTER
        updated = replace(
            current,
            status=blocked,
            message=message,
            owed_value=owed.value,
            next_attempt_at=None,
            updated_at=now,
            **_UNMARKED,
        )
        if held is not None:
            saved, again = self._record(updated, held)
            return None if again else self._outcome(state, saved, sent=False)
        return self._outcome(state, self.cells.save(updated), sent=False)

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
            decision, owed, target = self._decide(state, now, forced)
        current = state.current()
        held = state.held_claim()
        if decision.action is Action.DEFER:
            live = state.live_claim(now)
            assert live is not None
            return self._outcome(state, self._mark(state, live), sent=False)
        if decision.action in (Action.NOTHING, Action.WAIT):
            if held is not None:
                # We claimed, and nothing is owed now (a later grade of our own batch): release the claim.
                saved, again = self._record(current, held)
                return None if again else self._outcome(state, saved, sent=False)
            if current.mark_for is not None:
                # No claim is live (or we would defer), and nothing is owed: the mark is answered; off `due`.
                current = self.cells.save(replace(current, **_UNMARKED))
            return self._outcome(state, current, sent=False)
        if decision.action is Action.RECORD:
            assert decision.status is not None
            updated = replace(
                current,
                status=decision.status,
                message=status_message(decision.status, target),
                owed_value=owed.value,
                next_attempt_at=None,
                updated_at=now,
                **_UNMARKED,
            )
            if held is not None:
                saved, again = self._record(updated, held)
                return None if again else self._outcome(state, saved, sent=False)
            return self._outcome(state, self.cells.save(updated), sent=False)
        assert decision.value is not None
        if held is None:
            held = _new_claim(state, now)
            # One conditional write of the enrollment; it returns the grades as they are under the claim.
            state.enrollment = self.enrollments.take_claim(
                state.enrollment, state.link.link_id, held, indexed=state.indexed
            )
            state.held.add(held.claim_id)
        try:
            return self._send_claimed(state, held, now, forced=forced, origin=origin)
        except BaseException:
            self._expire_claim(state, held, now)
            raise

    def _expire_claim(self, state: _Snapshot, claim: ClaimEntry, now: datetime) -> None:
        """A crash under our claim (a throttled write, say): release it now, on the cell, so the
        redelivery of our input (or, if someone marked the cell, the sweep through `due`, due now)
        takes the cell over at once instead of after the lease. Tried a few times (what crashed
        us may still be there); if it never works, the lease still ends."""
        error: Exception | None = None
        course_id, learner_id, link_id = state.course.course_id, state.enrollment.learner_id, state.link.link_id
        for _ in range(_EXPIRE_TRIES):
            try:
                cell = self.cells.get(course_id, learner_id, link_id, consistent=True) or state.current()
                if cell.done_claim == claim.claim_id or (cell.sent_ts or 0) > claim.ts:
                    return  # recorded already, or a later holder took over and recorded
                self.cells.save(
                    replace(
                        cell,
                        done_claim=claim.claim_id,
                        sent_ts=max(cell.sent_ts or 0, claim.ts),
                        mark_until=now if cell.mark_for is not None else None,
                    )
                )
                return
            except Exception as failed:
                error = failed
        logger.warning(
            "could not end a claim after a crash; it ends with its lease",
            extra={"course": course_id, "link": link_id, "error": repr(error)[:200]},
        )

    def _send_claimed(
        self, state: _Snapshot, claim: ClaimEntry, now: datetime, *, forced: bool, origin: datetime | None
    ) -> SyncOutcome | None:
        """We hold the claim: send what is owed under it, record the answer (which releases the claim).

        The enrollment is the one our claim's write returned (or a later one of ours): any grade
        written since saw the claim and marks the cell. A homepage composite also depends on which
        activities are released and assigned, so the course is read again under the claim; for an
        activity link it need not be: release is a fact (once released, always).
        """
        if state.link.is_homepage and not self._reread_owed(state, course_too=True):
            saved, _ = self._record(state.current(), claim)
            return self._outcome(state, saved, sent=False)
        decision, owed, target = self._decide(state, now, forced)
        cell = state.current()
        if decision.action is not Action.SEND or isinstance(target, str):
            # What is owed changed since we decided; the LMS need not hear from us. Release the claim.
            released = cell
            if decision.action is Action.RECORD and decision.status is not None:
                released = replace(
                    cell,
                    status=decision.status,
                    message=status_message(decision.status, target),
                    owed_value=owed.value,
                    next_attempt_at=None,
                    updated_at=now,
                )
            saved, again = self._record(released, claim)
            return None if again else self._outcome(state, saved, sent=False)
        assert decision.value is not None
        value = decision.value
        timestamp = claim.ts
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
        saved, again = self._record(updated, claim)
        if again:
            return None
        return self._outcome(state, saved, sent=sent and saved.status == CellStatus.SYNCED)

    def _record(self, updated: CellRecord, claim: ClaimEntry) -> tuple[CellRecord, bool]:
        """Record the answer on the cell, which releases our claim (`done_claim`).

        Conditional on the cell version read before the claim. True when someone wrote the cell
        since (a mark, a launch's new target, a status): we decide again on fresh reads. The LMS
        call happened, so a lost race must not lose its answer: it is written over theirs, keeping
        a launch's target; unless a later claim's holder recorded already (we outlived our lease).
        """
        updated = replace(updated, done_claim=claim.claim_id, sent_ts=max(updated.sent_ts or 0, claim.ts), **_UNMARKED)
        again = False
        for _ in range(_RACES):
            try:
                return self.cells.save(updated), again
            except Conflict:
                theirs = self.cells.get(updated.course_id, updated.learner_id, updated.link_id, consistent=True)
                if theirs is None or (theirs.sent_ts or 0) > claim.ts:
                    # Gone (a merge moved it), or we outlived the lease and a later holder recorded.
                    logger.warning(
                        "claim taken over before the answer was recorded",
                        extra={"course": updated.course_id, "learner": updated.learner_id, "link": updated.link_id},
                    )
                    count("ClaimLost")
                    return theirs or updated, False
                again = True
                updated = replace(
                    updated,
                    version=theirs.version,
                    sourcedid=theirs.sourcedid,
                    outcome_service_url=theirs.outcome_service_url,
                )
        raise Conflict(f"cell {updated.course_id}/{updated.learner_id}/{updated.link_id} kept changing")

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


def _new_claim(state: _Snapshot, now: datetime) -> ClaimEntry:
    """A fresh claim on the cell: the lease counts from when it is written (the invocation's `now`
    may be long ago: a release chunk), and it reserves the next whole second after the cell's last
    timestamp and the last claim's."""
    last = state.last_claim()
    return ClaimEntry(
        claim_id=uuid.uuid4().hex[:16],
        until=max(now, utcnow()) + CLAIM_LEASE,
        ts=claim_timestamp(state.current().sent_ts, last.ts if last else None, now),
    )
