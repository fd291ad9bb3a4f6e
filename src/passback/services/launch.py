"""What a launch means (rules 1, 2, 3, 9, 13), the same for both front doors (LTI 1.3 and 1.1).

The front door validates the launch and hands over `LaunchFacts`; this service makes the course,
the learner, the enrollment, the link and the target exist, and queues the sync of anything the
launch made sendable (a new target, a new link, a newly assigned activity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from passback.data.catalog import ActivityRepository
from passback.data.cells import CellRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.errors import Conflict
from passback.data.learners import LearnerRepository
from passback.domain.launches import courses_create_themselves, students_enroll_themselves
from passback.domain.records import ActivityInCourse, CellRecord, CourseRecord, EnrollmentRecord, LinkRecord
from passback.domain.roster import launch_during_roster_read
from passback.ids import course_id, link_id, platform_id
from passback.observability import logger
from passback.services.grades import CourseGrades
from passback.services.jobs import CourseJobs

if TYPE_CHECKING:
    from passback.services.merges import MergeService
    from passback.services.migration import LegacyLinks


@dataclass(frozen=True)
class LegacyIds:
    """What an LTI 1.3 launch was in LTI 1.1 (docs/migration.md): from a verified `lti1p1` claim, or
    the launch's own ids when an operator tied the platform to its 1.1 consumer."""

    consumer_key: str
    user_id: str
    context_id: str
    resource_link_id: str
    verified_by: str


# A launch that loses a race for its cell re-reads and re-applies this many times (never a 500).
_TARGET_RACES = 8
_INDEXED = ActivityInCourse(activity_id="", idx=0)  # stands for "not assigned": nothing to index


@dataclass(frozen=True)
class LaunchFacts:
    """A validated launch, whichever LTI version brought it."""

    lti_version: str
    platform_key: str
    context_id: str
    context_title: str | None
    context_label: str | None
    resource_link_id: str
    resource_link_title: str | None
    user_id: str
    roles: tuple[str, ...]
    name: str | None = None
    email: str | None = None
    client_id: str | None = None
    deployment_id: str | None = None
    activity_id: str | None = None
    line_item_url: str | None = None
    line_items_url: str | None = None
    ags_scopes: tuple[str, ...] = ()
    outcome_service_url: str | None = None
    sourcedid: str | None = None
    lms_origin: str | None = None
    return_url: str | None = None
    # The user's time zone when the LMS sends one (a custom parameter: `tz`, `timezone` or `time_zone`,
    # e.g. Canvas's $Person.timeZone): the gradebook's default before the browser's (docs/gradebook.md).
    time_zone: str | None = None
    # LTI 1.3 NRPS claim: where the course's roster is read (services/roster.py).
    memberships_url: str | None = None
    # The tool's own base URL for this request (links in mail sent because of the launch).
    tool_base_url: str | None = None
    # An LTI 1.3 launch from a platform that was an LTI 1.1 consumer: its 1.1 ids (docs/migration.md).
    legacy: LegacyIds | None = None

    @property
    def platform_id(self) -> str:
        return platform_id(self.platform_key)


@dataclass(frozen=True)
class LaunchOutcome:
    course: CourseRecord
    learner_id: str
    role: str
    link: LinkRecord
    activity_id: str | None
    course_created: bool = False
    queued: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


def time_zone_of(custom: Mapping[str, object]) -> str | None:
    """An IANA time zone name from a launch's custom parameters, if one looks like it (checked again on use)."""
    for key in ("tz", "timezone", "time_zone"):
        value = str(custom.get(key) or "").strip()
        if value and len(value) <= 64 and not value.startswith("$") and all(c.isalnum() or c in "/_+-" for c in value):
            return value
    return None


def origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


class LineItems:
    """Finds or creates a link's AGS line item (the launch function's only LMS call)."""

    def find_or_create(self, course: CourseRecord, link: LinkRecord, facts: LaunchFacts) -> str | None:
        raise NotImplementedError


class LaunchService:
    def __init__(
        self,
        courses: CourseRepository,
        learners: LearnerRepository,
        enrollments: EnrollmentRepository,
        cells: CellRepository,
        catalog: ActivityRepository,
        grades: CourseGrades,
        jobs: CourseJobs,
        line_items: LineItems,
        merges: MergeService | None = None,
        migration: LegacyLinks | None = None,
    ) -> None:
        self.courses = courses
        self.learners = learners
        self.enrollments = enrollments
        self.cells = cells
        self.catalog = catalog
        self.grades = grades
        self.jobs = jobs
        self.line_items = line_items
        self.merges = merges
        self.migration = migration

    def launch(self, facts: LaunchFacts, now: datetime) -> LaunchOutcome:
        if facts.legacy is not None and self.migration is not None:
            # LTI 1.1 to 1.3: continue the 1.1 course, learner and link (services/migration.py).
            mapped, migrated = self.migration.map(facts, now)
            outcome = self._launch(mapped, now)
            return self.migration.after(facts, migrated, outcome, now)
        return self._launch(facts, now)

    def _launch(self, facts: LaunchFacts, now: datetime) -> LaunchOutcome:
        role = students_enroll_themselves(facts.roles)
        cid = course_id(facts.platform_key, facts.context_id)
        title = courses_create_themselves(facts.context_title, facts.context_label, facts.context_id)
        created = self.courses.create_if_absent(
            course_id=cid,
            platform_id=facts.platform_id,
            platform_key=facts.platform_key,
            lti_version=facts.lti_version,
            context_id=facts.context_id,
            title=title,
            label=facts.context_label,
            lms_origin=facts.lms_origin,
            now=now,
        )
        course = self.courses.get(cid)
        assert course is not None
        if not created and role == "instructor" and course.title != title:
            self.courses.rename(cid, title, facts.context_label)
        queued: list[str] = []

        # The link, and the activity it names (assigned in this course from now on).
        newly_assigned = False
        if facts.activity_id and not course.activities.get(facts.activity_id, _INDEXED).indexed:
            self.courses.index_activity(cid, facts.activity_id)  # assigned before the index existed
        if facts.activity_id and facts.activity_id not in course.activities:
            activity = self.catalog.get(facts.activity_id)
            newly_assigned = self.courses.assign_activity(
                cid, facts.activity_id, activity.title if activity else None, now
            )
        link = LinkRecord(
            link_id=link_id(facts.platform_key, facts.resource_link_id),
            resource_link_id=facts.resource_link_id,
            activity_id=facts.activity_id,
            lti_version=facts.lti_version,
            title=facts.resource_link_title,
            client_id=facts.client_id,
            line_item_url=facts.line_item_url,
            line_items_url=facts.line_items_url,
        )
        link_created, link_changed = self.courses.upsert_link(cid, link, now)
        course = self.courses.get(cid) or course
        link = course.links.get(link.link_id, link)
        if facts.lti_version == "1.3" and not link.line_item_url:
            found = self._line_item(course, link, facts)
            if found:
                self.courses.set_line_item(cid, link.link_id, found)
                link_changed = True
                course = self.courses.get(cid) or course
                link = course.links[link.link_id]

        learner_id, merge_pending = self._learner(facts, role, course, now)
        enrolled = self._enroll(course, learner_id, role, facts, now, merge_pending)

        if newly_assigned:
            # Rule 3: every enrolled learner's earlier work on this activity now counts here.
            queued.append(
                self.jobs.request(
                    "regrade", cid, now, activity_id=facts.activity_id, requested_by="assigned by launch"
                ).job_id
            )
        elif (link_created or link_changed) and facts.lti_version == "1.3" and link.line_item_url:
            # Rule 13: a 1.3 line item accepts every enrolled learner, launched or not.
            queued.append(self.jobs.request("sync", cid, now, link_id=link.link_id, requested_by="new link").job_id)
        if role == "learner":
            new_target = self._record_target(course, link, learner_id, facts, now)
            if new_target or enrolled:
                # Rule 9: the moment the learner launches, everything owed for this learner is sent.
                queued.append(self.jobs.request("sync", cid, now, learner_id=learner_id, requested_by="launch").job_id)
        logger.info(
            "launch",
            extra={
                "course": cid,
                "learner": learner_id,
                "role": role,
                "link": link.link_id,
                "activity": facts.activity_id,
                "lti": facts.lti_version,
                "platform": facts.platform_id,
                "course_created": created,
            },
        )
        return LaunchOutcome(
            course=course,
            learner_id=learner_id,
            role=role,
            link=link,
            activity_id=facts.activity_id,
            course_created=created,
            queued=tuple(queued),
        )

    def _line_item(self, course: CourseRecord, link: LinkRecord, facts: LaunchFacts) -> str | None:
        try:
            return self.line_items.find_or_create(course, link, facts)
        except Exception as error:
            logger.warning(
                "could not find or create the line item",
                extra={"course": course.course_id, "link": link.link_id, "error": repr(error)[:300]},
            )
            return None

    def _learner(self, facts: LaunchFacts, role: str, course: CourseRecord, now: datetime) -> tuple[str, bool | None]:
        """The launch's learner, and whether its enrollments wait on a merge (None: not known yet)."""
        found = self.learners.by_identity(facts.platform_id, facts.user_id)
        if found is not None:
            return found, None
        existing = self.merges.candidate(facts.email) if self.merges and role == "learner" else None
        if existing is not None and self.merges is not None:
            # Rule 12: neither a silent second account nor a silent link; a provisional learner until
            # the owner of the email confirms. Its email is not claimed: the address is the existing learner's.
            provisional = self.learners.create(email=facts.email, name=facts.name, now=now)
            bound = self.learners.link_identity(
                platform_id=facts.platform_id,
                lms_user_id=facts.user_id,
                learner_id=provisional,
                email=facts.email,
                now=now,
            )
            if bound != provisional:
                return bound, None  # a racing launch of the same identity made (and asked for) it first
            self.merges.propose(
                existing_learner_id=existing,
                provisional_learner_id=provisional,
                platform_id=facts.platform_id,
                lms_user_id=facts.user_id,
                course=course,
                base_url=facts.tool_base_url or "",
                now=now,
            )
            return provisional, True
        learner_id = self.learners.create(email=facts.email, name=facts.name, now=now)
        bound = self.learners.link_identity(
            platform_id=facts.platform_id,
            lms_user_id=facts.user_id,
            learner_id=learner_id,
            email=facts.email,
            now=now,
        )
        # The LMS's email is not claimed: an address asserted by a launch is no proof of owning the
        # product account with that address (docs/merges.md, "Who may assert what").
        return bound, False

    def _enroll(
        self,
        course: CourseRecord,
        learner_id: str,
        role: str,
        facts: LaunchFacts,
        now: datetime,
        merge_pending: bool | None = False,
    ) -> bool:
        """Enroll on the first launch (True), or refresh what the LMS says about the learner (False; True
        when the roster had brought them in or said they left: what they are owed changes, so sync it)."""
        existing = self.enrollments.get(course.course_id, learner_id)
        reopened = existing is not None and (existing.never_opened or not existing.in_course)
        if existing is not None and role == "learner" and launch_during_roster_read(course.roster_read_since, now):
            # The roster read in progress may have seen them inactive before this launch: leave the launch's
            # time, which its write respects (services/roster.py).
            self.enrollments.note_launch(course.course_id, learner_id, now)
        if reopened:
            # The roster brought them in, or said they left: their launch says otherwise. Deadline zeros the
            # course held back for learners who never opened Passback (rule 13's setting) are owed now.
            self.enrollments.mark_launched(course.course_id, learner_id)
        if existing is not None:
            if (existing.role, existing.lms_user_id, existing.name, existing.email) != (
                role,
                facts.user_id,
                facts.name,
                facts.email,
            ):
                self.enrollments.update_identity(
                    course.course_id,
                    learner_id,
                    role=role,
                    lms_user_id=facts.user_id,
                    name=facts.name,
                    email=facts.email,
                )
            return reopened
        if merge_pending is None:
            # A known learner enrolling somewhere new: pending too if its merge is still open.
            learner = self.learners.get(learner_id) if role == "learner" else None
            merge_pending = learner is not None and learner.pending_merge is not None
        record = EnrollmentRecord(
            course_id=course.course_id,
            learner_id=learner_id,
            role=role,
            lms_user_id=facts.user_id,
            name=facts.name,
            email=facts.email,
            merge_pending=merge_pending,
        )
        created = self.enrollments.create_if_absent(record, now)
        if created and role == "learner":
            # Rule 3: work done before this first launch counts at once; read after the creation, so a
            # score applied meanwhile is seen here or finds the enrollment itself (CourseGrades.catch_up).
            self.grades.catch_up(course, learner_id, now)
        return created

    def _record_target(
        self, course: CourseRecord, link: LinkRecord, learner_id: str, facts: LaunchFacts, now: datetime
    ) -> bool:
        """LTI 1.1 keeps the learner's own sourcedid for this link (rule 13). True when it is new."""
        if facts.lti_version != "1.1" or not facts.sourcedid or not facts.outcome_service_url:
            return False
        for _ in range(_TARGET_RACES):
            cell = self.cells.get(course.course_id, learner_id, link.link_id, consistent=True)
            if cell is not None and (cell.sourcedid, cell.outcome_service_url) == (
                facts.sourcedid,
                facts.outcome_service_url,
            ):
                return False
            base = cell or CellRecord(course_id=course.course_id, learner_id=learner_id, link_id=link.link_id)
            try:
                self.cells.save(
                    replace(
                        base,
                        sourcedid=facts.sourcedid,
                        outcome_service_url=facts.outcome_service_url,
                        status=None if base.status == "no target" else base.status,
                        updated_at=now,
                    )
                )
            except Conflict:
                # A sync wrote the cell since we read it (a score, a release): read it again and re-apply.
                continue
            return True
        raise Conflict(f"cell {course.course_id}/{learner_id}/{link.link_id} kept changing during a launch")
