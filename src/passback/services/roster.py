"""The course roster (NRPS): learners who never launched, and learners the LMS says left.

Read on the first instructor launch (queued), on a schedule (daily, a bounded number of courses per
sweep) and on demand (the gradebook's button, `passback roster sync`). A read costs one request per
page and writes only what changed (`domain.roster.roster_changes`): a second read of an unchanged
roster writes nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.learners import LearnerRepository
from passback.data.roster import RosterRepository
from passback.domain.records import CourseRecord, EnrollmentRecord, LinkRecord
from passback.domain.roster import Known, Member, RosterPlan, roster_changes, still_leaving
from passback.ids import platform_id, platform_key_lti13
from passback.lms.gateway import LmsGateway
from passback.lms.roster import RosterClient
from passback.lms.tokens import TokenEndpoint
from passback.observability import count, logger
from passback.services.grades import CourseGrades
from passback.services.jobs import CourseJobs
from passback.services.pool import run_all

if TYPE_CHECKING:
    from passback.services.merges import MergeService

ENROLLMENT_PAGE = 1000
FIRST_READ_IN = timedelta(0)
READ_EVERY = timedelta(days=1)


class RosterUnavailable(Exception):
    """The course's roster cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class RosterReport:
    course_id: str
    members: int
    pages: int
    added: int
    status_changed: int
    waiting_for_merge: int
    queued_sync: bool

    @property
    def writes(self) -> int:
        return self.added + self.status_changed


class RosterService:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        learners: LearnerRepository,
        grades: CourseGrades,
        jobs: CourseJobs,
        rosters: RosterRepository,
        lms: LmsGateway,
        client: RosterClient,
        merges: MergeService | None = None,
        *,
        workers: int = 16,
    ) -> None:
        self.workers = workers
        self.courses = courses
        self.enrollments = enrollments
        self.learners = learners
        self.grades = grades
        self.jobs = jobs
        self.rosters = rosters
        self.lms = lms
        self.client = client
        self.merges = merges

    # -- when to read

    def instructor_launched(
        self, course_id: str, memberships_url: str | None, client_id: str | None, now: datetime
    ) -> str | None:
        """Remember where the roster is; the first time, queue its first read. Returns the job id queued."""
        if not memberships_url:
            return None
        if not self.rosters.remember(course_id, memberships_url, client_id, now, FIRST_READ_IN + READ_EVERY):
            return None
        return self.jobs.request("roster", course_id, now, requested_by="first instructor launch").job_id

    def queue_due(self, now: datetime, budget: int) -> int:
        """The schedule: queue the reads that fell due, at most `budget` per sweep.

        As the other scheduled work (services/sweep.py): queued with an id fixed by what fell due, then
        moved a day ahead with a conditional write; a crash in between queues it again, and two sweeps
        at once queue the same job, which the release function runs once.
        """
        queued = 0
        for course_id, seen in self.rosters.due(now, budget):
            job_id = hashlib.sha256(f"roster\x1f{course_id}\x1f{seen}".encode()).hexdigest()[:32]
            self.jobs.request("roster", course_id, now, requested_by="schedule", job_id=job_id)
            if self.rosters.reschedule(course_id, seen, now + READ_EVERY):
                queued += 1
        return queued

    # -- the read

    def sync(self, course_id: str, now: datetime, on_progress: Callable[[str], None] | None = None) -> RosterReport:
        course = self.courses.get(course_id)
        if course is None:
            raise RosterUnavailable(f"There is no course {course_id}.")
        if course.lti_version != "1.3" and not course.lti13_issuer:  # a course migrated from 1.1 has NRPS too
            raise RosterUnavailable("The course roster needs LTI 1.3 (Names and Role Provisioning); this is LTI 1.1.")
        source = self.rosters.get(course_id)
        if source is None:
            raise RosterUnavailable(
                "The LMS has not offered this course's roster yet: an instructor must open a Passback link once, "
                "with the Names and Role Provisioning service enabled for the tool (docs/lms-setup.md)."
            )
        say = on_progress or (lambda _: None)
        stub = LinkRecord(
            link_id="", resource_link_id="", activity_id=None, lti_version="1.3", client_id=source.client_id
        )
        endpoint = self.lms.token_endpoint(course, stub)
        pages = 0

        def page_read(number: int, so_far: int) -> None:
            nonlocal pages
            pages = number
            say(f"read page {number} of the roster ({so_far} members so far)")

        return self._read(course, source.memberships_url, endpoint, now, say, page_read, lambda: pages)

    def _read(
        self,
        course: CourseRecord,
        memberships_url: str,
        endpoint: TokenEndpoint,
        now: datetime,
        say: Callable[[str], None],
        page_read: Callable[[int, int], None],
        pages_read: Callable[[], int],
    ) -> RosterReport:
        course_id = course.course_id
        # What Passback knows is read before the roster: a learner who launches while a long roster is
        # read is absent from it, and must not be taken for one who left (marked gone) by a later look.
        known = self._known(course)
        members = self.client.members(endpoint, memberships_url, on_page=page_read)
        plan = roster_changes(members, known.values())
        say(f"{len(members)} members: {len(plan.new)} new, {len(plan.status)} changed")
        leaving = any(status is not None for _, status in plan.status)
        if leaving:
            # Someone is inactive or gone: say a read is in progress (launches from now on leave their time on
            # the enrollment, services/launch.py), then look again. A member seen inactive who was reactivated
            # and launched before this mark shows active in the second look; one who launches after it has a
            # launch time the write below respects. An unchanged roster costs neither the mark nor the look.
            self.rosters.start_read(course_id, now)
            try:
                again = self.client.members(endpoint, memberships_url)
            except Exception:
                self.rosters.end_read(course_id, now)
                raise
            plan = still_leaving(plan, roster_changes(again, known.values()))
        try:
            return self._write(course, plan, members, now, say, pages_read)
        finally:
            if leaving:
                self.rosters.end_read(course_id, now)

    def _write(
        self,
        course: CourseRecord,
        plan: RosterPlan,
        members: list[Member],
        now: datetime,
        say: Callable[[str], None],
        pages_read: Callable[[], int],
    ) -> RosterReport:
        course_id = course.course_id
        outcomes: list[bool] = []
        failures: list[tuple[object, Exception]] = []
        lock = threading.Lock()

        def add(member: Member) -> None:
            done = self._add(course, member, now)
            with lock:
                outcomes.append(done)
                if len(outcomes) % 500 == 0:
                    say(f"added {len(outcomes)} of {len(plan.new)} learners")

        # Each new member is a few independent reads and conditional writes: in parallel, so the first
        # read of a 5,000-member course fits one job (services/jobs.py runs the course's chunks the same way).
        run_all(plan.new, add, self.workers, on_error=lambda item, error: failures.append((item, error)))
        launched_since: list[str] = []

        def set_status(change: tuple[str, str | None]) -> None:
            learner_id, status = change
            if status is None:  # active again: nothing a launch could contradict
                self.enrollments.set_lms_status(course_id, learner_id, None)
            elif not self.enrollments.set_lms_status_unless_launched(course_id, learner_id, status, now):
                with lock:
                    launched_since.append(learner_id)  # they launched after this read began: their launch stands

        run_all(plan.status, set_status, self.workers, on_error=lambda item, error: failures.append((item, error)))
        run_all(
            plan.subs,
            lambda sub: self._note_lti13_id(course, sub[0], sub[1], now),
            self.workers,
            on_error=lambda item, error: failures.append((item, error)),
        )
        if failures:
            # The table failed (not the LMS): fail the job so SQS runs it again; what was written stays written.
            raise RuntimeError(f"{len(failures)} roster changes failed; first: {failures[0][1]!r}") from failures[0][1]
        added = sum(outcomes)
        waiting = len(outcomes) - added
        queued = False
        if added or plan.returned:
            # Rule 13: what is owed to them (grades from earlier work, deadline zeros) can reach the LMS now.
            self.jobs.request("sync", course_id, now, requested_by="roster")
            queued = True
        report = RosterReport(
            course_id=course_id,
            members=len(members),
            pages=pages_read(),
            added=added,
            status_changed=len(plan.status) - len(launched_since),
            waiting_for_merge=waiting,
            queued_sync=queued,
        )
        count("RosterMembersAdded", added)
        logger.info("roster read", extra={**report.__dict__})
        return report

    def _known(self, course: CourseRecord) -> dict[str, Known]:
        known: dict[str, Known] = {}
        cursor = None
        while True:
            records, cursor = self.enrollments.page(course.course_id, cursor, ENROLLMENT_PAGE)
            for record in records:
                user_id = record.lti13_user_id or record.lms_user_id  # a course migrated from 1.1: its 1.3 sub
                # Migrated from 1.1 and not seen through 1.3 yet: the roster may name them by their 1.1 id.
                legacy = record.lms_user_id if course.lti13_issuer and not record.lti13_user_id else None
                known[record.learner_id] = Known(record.learner_id, user_id, record.role, record.lms_status, legacy)
            if not cursor:
                return known

    def _note_lti13_id(self, course: CourseRecord, learner_id: str, sub: str, now: datetime) -> None:
        """A 1.1 learner of a migrated course, named by the roster: their 1.3 id, so AGS can grade them (rule 13)
        before their first 1.3 launch, and their 1.3 identity, as that launch would bind it (services/migration.py;
        an identity already bound to another learner is never moved)."""
        self.enrollments.set_lti13_user_id(course.course_id, learner_id, sub)
        self.learners.link_identity(
            platform_id=_lti13_platform(course), lms_user_id=sub, learner_id=learner_id, email=None, now=now
        )

    def _add(self, course: CourseRecord, member: Member, now: datetime) -> bool:
        """Enroll a learner who never launched. False when their email belongs to another account: the
        merge (rule 12) happens at their first launch, so no second account is made for them here."""
        learner_platform = _lti13_platform(course)
        learner_id = self.learners.by_identity(learner_platform, member.user_id)
        if learner_id is None:
            if self.merges is not None and self.merges.candidate(member.email) is not None:
                return False
            made = self.learners.create(email=member.email, name=member.name, now=now)
            learner_id = self.learners.link_identity(
                platform_id=learner_platform, lms_user_id=member.user_id, learner_id=made, email=member.email, now=now
            )
        record = EnrollmentRecord(
            course_id=course.course_id,
            learner_id=learner_id,
            role="learner",
            lms_user_id=member.user_id,
            name=member.name,
            email=member.email,
            launched=False,
            # A migrated course's AGS scores name the 1.3 id (docs/migration.md).
            lti13_user_id=member.user_id if course.lti13_issuer else None,
        )
        if self.enrollments.create_if_absent(record, now):
            # Their earlier work (rule 3), read after the creation: see CourseGrades.catch_up.
            self.grades.catch_up(course, learner_id, now)
        return True


def _lti13_platform(course: CourseRecord) -> str:
    """The platform whose identities the roster's user ids are: a migrated course's is its 1.3 issuer's."""
    return platform_id(platform_key_lti13(course.lti13_issuer)) if course.lti13_issuer else course.platform_id
