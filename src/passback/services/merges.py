"""Rule 12, the account merge: asked at a launch, confirmed (or declined) from the email, expired by the sweep.

A launch that brings a new LMS identity whose email belongs to an existing learner with product
work gets a provisional learner (so the launch goes on) and a merge request; the mail goes to the
existing learner's own address, so only that mailbox can confirm. Confirming moves the identity,
the enrollments and the targets to the existing learner, combines progress (the newer work wins)
and queues a resync of every affected course's cells for the release function. Declining or
expiry leave both learners as they were.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from html import escape

from passback.data.cells import CellRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.errors import Conflict
from passback.data.learners import LearnerRepository
from passback.data.merges import MergeRecord, MergeRepository
from passback.data.progress import ProgressRepository
from passback.domain.merges import (
    LINK_LIFETIME,
    LinkCheck,
    MergeStatus,
    merge_progress,
    merge_status,
    sign_merge_link,
    verify_merge_link,
)
from passback.domain.records import CellRecord, CourseRecord, EnrollmentRecord
from passback.mailer import Mail, Mailer
from passback.observability import count, logger
from passback.services.grades import CourseGrades
from passback.services.jobs import CourseJobs
from passback.tool_keys import ToolKeys

SUBJECT = "Confirm your request to merge accounts"
_RACES = 8


class LinkOutcome(StrEnum):
    """What following a link came to; each refusal has its own page."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    MALFORMED = "malformed"
    TAMPERED = "tampered"
    EXPIRED = "expired"
    USED = "used"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    request: MergeRecord | None = None


class MergeService:
    def __init__(
        self,
        learners: LearnerRepository,
        enrollments: EnrollmentRepository,
        cells: CellRepository,
        progress: ProgressRepository,
        courses: CourseRepository,
        grades: CourseGrades,
        jobs: CourseJobs,
        requests: MergeRepository,
        mailer: Mailer,
        keys: ToolKeys,
    ) -> None:
        self.learners = learners
        self.enrollments = enrollments
        self.cells = cells
        self.progress = progress
        self.courses = courses
        self.grades = grades
        self.jobs = jobs
        self.requests = requests
        self.mailer = mailer
        self.keys = keys

    # ------------------------------------------------------------------ at a launch

    def candidate(self, email: str | None) -> str | None:
        """The existing learner a new identity with this email should be merged into, if any."""
        if not email:
            return None
        existing = self.learners.by_email(email)
        if existing is None:
            return None
        learner = self.learners.get(existing)
        if learner is None or learner.merged_into:
            return None
        # Only an account with product work is worth a merge: without any there is nothing to combine.
        return existing if self.progress.has_any(existing) else None

    def propose(
        self,
        *,
        existing_learner_id: str,
        provisional_learner_id: str,
        platform_id: str,
        lms_user_id: str,
        course: CourseRecord,
        base_url: str,
        now: datetime,
    ) -> str:
        existing = self.learners.get(existing_learner_id)
        assert existing is not None
        assert existing.email
        record = MergeRecord(
            request_id=secrets.token_urlsafe(18),
            email=existing.email,
            existing_learner_id=existing_learner_id,
            provisional_learner_id=provisional_learner_id,
            platform_id=platform_id,
            lms_user_id=lms_user_id,
            course_id=course.course_id,
            course_title=course.title,
            status=MergeStatus.PENDING.value,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
        self.requests.create(record)
        self.learners.set_pending_merge(provisional_learner_id, record.request_id)
        kid, keys = self.keys.link_keys()
        token = sign_merge_link(record.request_id, record.expires_at, kid, keys[kid])
        try:
            self.mailer.send(_mail(record, f"{base_url}/merge/confirm?token={token}"), now)
        except Exception as error:
            # The launch must go on; the request stays pending and support sees it in `merges list`.
            logger.warning("merge mail not sent", extra={"merge": record.request_id, "error": repr(error)[:300]})
        count("MergeRequested")
        logger.info(
            "merge requested",
            extra={"merge": record.request_id, "existing": existing_learner_id, "provisional": provisional_learner_id},
        )
        return record.request_id

    # ------------------------------------------------------------------ the link

    def check(self, token: str, now: datetime) -> LinkResult:
        """What the link is, without using it (the page with the Confirm and Decline buttons)."""
        verdict = verify_merge_link(token, self.keys.link_keys()[1], now)
        if verdict.check is LinkCheck.MALFORMED:
            return LinkResult(LinkOutcome.MALFORMED)
        if verdict.check is LinkCheck.TAMPERED:
            return LinkResult(LinkOutcome.TAMPERED)
        assert verdict.request_id is not None
        record = self.requests.get(verdict.request_id)
        if record is None:
            return LinkResult(LinkOutcome.UNKNOWN)
        status = merge_status(record.status, record.expires_at, now)
        if verdict.check is LinkCheck.EXPIRED or status is MergeStatus.EXPIRED:
            return LinkResult(LinkOutcome.EXPIRED, record)
        if status is not MergeStatus.PENDING:
            return LinkResult(LinkOutcome.USED, record)
        return LinkResult(LinkOutcome.PENDING, record)

    def confirm(self, token: str, now: datetime) -> LinkResult:
        found = self.check(token, now)
        if found.outcome is not LinkOutcome.PENDING:
            return found
        assert found.request is not None
        if not self.requests.decide(found.request.request_id, MergeStatus.CONFIRMED, now):
            return LinkResult(LinkOutcome.USED, found.request)  # the other click won
        self.combine(found.request, now)
        return LinkResult(LinkOutcome.CONFIRMED, found.request)

    def decline(self, token: str, now: datetime) -> LinkResult:
        found = self.check(token, now)
        if found.outcome is not LinkOutcome.PENDING:
            return found
        assert found.request is not None
        if not self.requests.decide(found.request.request_id, MergeStatus.DECLINED, now):
            return LinkResult(LinkOutcome.USED, found.request)
        self.leave_apart(found.request, now, "declined")
        return LinkResult(LinkOutcome.DECLINED, found.request)

    def expire_due(self, now: datetime, limit: int = 100) -> int:
        """The sweep: pending requests past their expiry leave both learners as they were."""
        expired = 0
        for request_id in self.requests.due(now, limit):
            record = self.requests.get(request_id)
            if record is None or record.expires_at > now:
                continue
            if self.requests.decide(request_id, MergeStatus.EXPIRED, now):
                self.leave_apart(record, now, "expired")
                expired += 1
        return expired

    # ------------------------------------------------------------------ the merge itself

    def combine(self, request: MergeRecord, now: datetime) -> None:
        """Make the two learners one. Each step is idempotent, in an order where a crash loses nothing:
        the provisional learner's data is copied before it is removed."""
        kept, absorbed = request.existing_learner_id, request.provisional_learner_id
        moved = self.enrollments.courses_of(absorbed)
        courses = {c: self.courses.get(c) for c in {*moved, *self.enrollments.courses_of(kept)}}
        for progress in self.progress.for_learner(absorbed):
            for _ in range(_RACES):
                merged = merge_progress(self.progress.get(kept, progress.activity_id), progress)
                if merged is None or self.progress.save(merged, now=now):
                    break
            else:
                raise Conflict(f"progress {kept}/{progress.activity_id} kept changing during a merge")
        for course_id in moved:
            course = courses.get(course_id)
            enrollment = self.enrollments.get(course_id, absorbed, consistent=True)
            if course is None or enrollment is None:
                continue
            self._move_enrollment(course, enrollment, kept, now)
        self.learners.rebind_identity(platform_id=request.platform_id, lms_user_id=request.lms_user_id, learner_id=kept)
        self.learners.mark_merged(absorbed, kept)
        for course_id in self.enrollments.courses_of(kept):
            course = courses.get(course_id) or self.courses.get(course_id)
            if course is None:
                continue
            self.grades.regrade(course, kept, now)
            # A resync (not a plain sync): a cell stuck on "user not in course" is tried again.
            self.jobs.request("resync", course_id, now, learner_id=kept, requested_by="account merge")
        self.requests.complete(request.request_id, now)
        count("MergeConfirmed")
        logger.info("merge confirmed", extra={"merge": request.request_id, "existing": kept, "provisional": absorbed})

    def _move_enrollment(self, course: CourseRecord, enrollment: EnrollmentRecord, kept: str, now: datetime) -> None:
        if self.enrollments.get(course.course_id, kept) is None:
            self.enrollments.create_if_absent(
                replace(
                    enrollment,
                    learner_id=kept,
                    merge_pending=False,
                    grades=self.grades.initial_entries(course, kept, now),
                    version=None,
                ),
                now,
            )
        elif enrollment.lms_user_id:
            self.enrollments.update_identity(
                course.course_id,
                kept,
                role=enrollment.role,
                lms_user_id=enrollment.lms_user_id,
                name=enrollment.name,
                email=enrollment.email,
            )
        theirs = self.cells.for_learner(course.course_id, kept)
        for link_id, cell in self.cells.for_learner(course.course_id, enrollment.learner_id).items():
            if link_id not in theirs:
                self._move_cell(cell, kept)
            self.cells.delete(course.course_id, enrollment.learner_id, link_id)
        self.enrollments.delete(course.course_id, enrollment.learner_id)

    def _move_cell(self, cell: CellRecord, kept: str) -> None:
        """The cell carries the LTI 1.1 target (sourcedid) and the AGS timestamp floor: both move.

        A sync may create the kept learner's cell meanwhile (the lost race of a request path): then
        the target and the floor are put on that cell, re-read and re-applied, never a 500.
        """
        moved = replace(
            cell,
            learner_id=kept,
            status=None,
            message=None,
            version=None,
            done_claim=None,
            mark_for=None,
            mark_until=None,
        )
        for _ in range(8):
            try:
                self.cells.save(moved)
                return
            except Conflict:
                current = self.cells.get(cell.course_id, kept, cell.link_id, consistent=True)
                if current is None:
                    moved = replace(moved, version=None)
                    continue
                moved = replace(
                    current,
                    sourcedid=current.sourcedid or cell.sourcedid,
                    outcome_service_url=current.outcome_service_url or cell.outcome_service_url,
                    sent_ts=max(current.sent_ts or 0, cell.sent_ts or 0) or None,
                )
        raise Conflict(f"cell {cell.course_id}/{kept}/{cell.link_id} kept changing during a merge")

    def leave_apart(self, request: MergeRecord, now: datetime, why: str) -> None:
        """Declined or expired: the provisional learner stays a learner of its own, no longer pending."""
        absorbed = request.provisional_learner_id
        self.learners.set_pending_merge(absorbed, None)
        for course_id in self.enrollments.courses_of(absorbed):
            enrollment = self.enrollments.get(course_id, absorbed)
            if enrollment is None or not enrollment.merge_pending:
                continue
            self.enrollments.set_merge_pending(course_id, absorbed, False)
            self.jobs.request("sync", course_id, now, learner_id=absorbed, requested_by=f"merge {why}")
        count("MergeDeclined" if why == "declined" else "MergeExpired")
        logger.info(f"merge {why}", extra={"merge": request.request_id, "provisional": absorbed})


def _mail(request: MergeRecord, url: str) -> Mail:
    course = request.course_title or "a course in your LMS"
    until = request.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"Someone opened {course} from their LMS with your email address ({request.email}).\n\n"
        "If that was you, confirm that your LMS account and your existing account are one person: "
        "your earlier work will then count in that course and its grades will reach the LMS.\n\n"
        f"{url}\n\n"
        f"The link works once, until {until}. If it was not you, ignore this email or choose Decline "
        "on that page: nothing changes, and nobody gets access to your work.\n"
    )
    html = (
        f"<p>Someone opened <strong>{escape(course)}</strong> from their LMS with your email address "
        f"({escape(request.email)}).</p>"
        "<p>If that was you, confirm that your LMS account and your existing account are one person: your earlier "
        "work will then count in that course and its grades will reach the LMS.</p>"
        f'<p><a href="{escape(url)}">Review the request to merge accounts</a></p>'
        f"<p>The link works once, until {escape(until)}. If it was not you, ignore this email or choose Decline on "
        "that page: nothing changes, and nobody gets access to your work.</p>"
    )
    return Mail(to=request.email, subject=SUBJECT, text=text, html=html)
