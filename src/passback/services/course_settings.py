"""Course settings an instructor changes: the release policy and each activity's deadline (GAU).

A deadline that has passed cannot be moved or removed: its zeros may already be in the LMS
gradebook, and taking them back silently would be worse than saying no. Setting a deadline
that is already in the past is allowed: it means "close it now" (applied by the next sweep).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from passback.data.catalog import ActivityRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.domain.records import CourseRecord, EnrollmentRecord
from passback.domain.release import ReleasePolicy

if TYPE_CHECKING:
    from passback.services.grades import CourseGrades
    from passback.services.jobs import CourseJobs

_PAGE = 200


@dataclass(frozen=True)
class DeadlinePreview:
    """What saving a deadline would do, for a confirmation that names numbers (see `preview_gau`).

    `passed` is true when the new deadline is at or before now (saving it closes the activity at
    once: its zeros are sent within a minute). `zeros` counts students who would get a deadline
    zero, `changed` students whose grade would differ from the one they have now (zeros included).
    `refused` is the message `set_gau` would refuse with, or None.
    """

    course_id: str
    activity_id: str
    title: str
    gau: datetime | None
    passed: bool
    learners: int
    zeros: int
    changed: int
    refused: str | None = None

    @property
    def needs_confirmation(self) -> bool:
        """Ask before saving: the deadline is past and saving it would change a grade."""
        return self.refused is None and self.passed and (self.zeros > 0 or self.changed > 0)

    def summary(self) -> str:
        """One sentence for a confirmation (the CLI prints it; the page may reuse it)."""
        if self.refused is not None:
            return self.refused
        if self.gau is None:
            return f"Clears the deadline of {self.title}: no zeros will be given ({self.learners} students)."
        if not self.passed:
            return f"Sets the deadline of {self.title}; it is in the future, so nothing changes before it passes."
        return (
            f"The deadline of {self.title} is in the past: saving it closes the activity now. "
            f"{self.zeros} of {self.learners} students will get a zero and {self.changed} grades will change "
            "in the LMS."
        )


@dataclass(frozen=True)
class ReleasePreview:
    """What Release Grades on one activity would send (see `preview_release`).

    `grades` counts students with a grade to send (deadline zeros included, counted again in
    `zeros`); `already_released` is true when the activity's grades can already leave.
    """

    course_id: str
    activity_id: str
    title: str
    learners: int
    grades: int
    zeros: int
    already_released: bool

    def summary(self) -> str:
        if self.already_released:
            return (
                f"The grades of {self.title} are already released: {self.grades} grades are in the LMS or on their way."
            )
        return (
            f"Releases {self.title}: {self.grades} grades ({self.zeros} of them deadline zeros) of "
            f"{self.learners} students will be sent to the LMS."
        )


@dataclass(frozen=True)
class ResyncPreview:
    """What a resync would do (see `preview_resync`): `cells` learner-and-link cells are tried again
    now, `grades` of them owe a released grade that will be sent again."""

    course_id: str
    activity_id: str | None
    learners: int
    links: int
    cells: int
    grades: int

    def summary(self) -> str:
        scope = f"activity {self.activity_id}" if self.activity_id else "the whole course"
        return (
            f"Resyncs {scope}: {self.cells} cells ({self.learners} students x {self.links} links); "
            f"{self.grades} released grades will be sent to the LMS again."
        )


class SettingRefused(Exception):
    """The change is refused; the message says why and what the instructor can do instead."""


class CourseSettings:
    def __init__(
        self,
        courses: CourseRepository,
        catalog: ActivityRepository,
        jobs: CourseJobs,
        *,
        enrollments: EnrollmentRepository,
        grades: CourseGrades,
    ) -> None:
        self.courses = courses
        self.catalog = catalog
        self.jobs = jobs
        self.enrollments = enrollments
        self.grades = grades

    # ------------------------------------------------------------------ previews (read only)

    def _students(self, course_id: str) -> Iterator[EnrollmentRecord]:
        cursor = None
        while True:
            page, cursor = self.enrollments.page(course_id, cursor, _PAGE)
            yield from (e for e in page if not e.is_instructor)
            if not cursor:
                return

    def _course(self, course_id: str) -> CourseRecord:
        course = self.courses.get(course_id)
        if course is None:
            raise SettingRefused(f"There is no course {course_id}.")
        return course

    def preview_gau(self, course_id: str, activity_id: str, gau: datetime | None, now: datetime) -> DeadlinePreview:
        """What `set_gau(course_id, activity_id, gau, now)` would do, without doing it.

        Reads the course's enrollments (Query, pages of 200) and each student's progress on the
        activity (one GetItem each), and computes every grade under the new deadline with the same
        domain function the score pipeline uses. Raises SettingRefused for an unknown course or
        activity; a change `set_gau` would refuse comes back with `refused` set.
        """
        course = self._course(course_id)
        current = course.activities.get(activity_id)
        if current is None:
            known = self.catalog.get(activity_id)
            if known is None:
                raise SettingRefused(f"The activity {activity_id} is not in the catalog.")
            title = known.title or activity_id
            students = sum(1 for _ in self._students(course_id))
            passed = gau is not None and gau <= now
            # Not assigned yet: nobody has a grade here, so a past deadline zeroes those without work.
            return DeadlinePreview(course_id, activity_id, title, gau, passed, students, 0, 0)
        title = current.title or activity_id
        refused = self._refusal(current.title or activity_id, current.gau, current.gau_applied_at, gau, now)
        scoped = replace(course, activities={activity_id: replace(current, gau=gau)})
        learners = zeros = changed = 0
        for enrollment in self._students(course_id):
            learners += 1
            if refused is not None:
                continue
            entry = self.grades.entry_for(scoped, enrollment.learner_id, activity_id, now)
            before = enrollment.grades.get(current.idx)
            if entry is not None and entry.zero:
                zeros += 1
            old_value = before.value if before else None
            new_value = entry.value if entry else None
            if old_value != new_value:
                changed += 1
        return DeadlinePreview(
            course_id, activity_id, title, gau, gau is not None and gau <= now, learners, zeros, changed, refused
        )

    def preview_release(self, course_id: str, activity_id: str, now: datetime) -> ReleasePreview:
        """What Release Grades on one activity would send: counted from the grades kept on the
        enrollments (a Query, pages of 200). Raises SettingRefused for an unknown course or activity."""
        course = self._course(course_id)
        activity = course.activities.get(activity_id)
        if activity is None:
            raise SettingRefused(f"The activity {activity_id} is not assigned in course {course_id}.")
        learners = grades = zeros = 0
        for enrollment in self._students(course_id):
            learners += 1
            entry = enrollment.grades.get(activity.idx)
            if entry is not None and entry.value is not None:
                grades += 1
                zeros += 1 if entry.zero else 0
        return ReleasePreview(
            course_id,
            activity_id,
            activity.title or activity_id,
            learners,
            grades,
            zeros,
            already_released=course.released(activity_id, now),
        )

    def preview_resync(self, course_id: str, now: datetime, activity_id: str | None = None) -> ResyncPreview:
        """What a resync of a whole course (or of one activity's links and the homepage links)
        would try again: counted from the enrollments (a Query, pages of 200)."""
        from passback.services.sync import link_owes

        course = self._course(course_id)
        if activity_id is not None and activity_id not in course.activities:
            raise SettingRefused(f"The activity {activity_id} is not assigned in course {course_id}.")
        links = (
            list(course.links.values())
            if activity_id is None
            else course.links_for_activity(activity_id) + course.homepage_links()
        )
        learners = grades = 0
        for enrollment in self._students(course_id):
            learners += 1
            for link in links:
                owed = link_owes(course, enrollment, link, now)
                if owed.value is not None and owed.released:
                    grades += 1
        return ResyncPreview(course_id, activity_id, learners, len(links), learners * len(links), grades)

    @staticmethod
    def _refusal(
        title: str, gau: datetime | None, applied: datetime | None, new: datetime | None, now: datetime
    ) -> str | None:
        if gau is not None and (gau <= now or applied is not None) and new != gau:
            return (
                f"The deadline for {title} passed on {gau:%Y-%m-%d %H:%M} UTC and students without a grade were "
                "given zeros, which may already be in the LMS gradebook, so it cannot be moved or removed here. "
                "To accept late work from the whole class, extend the deadline (passback gau extend, or "
                "Extend deadline in the gradebook); for one student, enter their grade in the LMS gradebook."
            )
        return None

    # ------------------------------------------------------------------ changes

    def set_policy(
        self, course_id: str, policy: ReleasePolicy, release_date: datetime | None, *, now: datetime
    ) -> None:
        if policy is ReleasePolicy.AT_DATE and release_date is None:
            raise SettingRefused("The 'at a date' release policy needs a date.")
        course = self.courses.get(course_id)
        if course is None:
            raise SettingRefused(f"There is no course {course_id}.")
        release_date = release_date if policy is ReleasePolicy.AT_DATE else None
        self.courses.set_policy(course_id, policy, release_date)
        after = replace(course, release_policy=policy, release_date=release_date)
        opened = [a for a in course.activities if after.released(a, now) and not course.released(a, now)]
        if opened:
            # Grades the new policy releases now would otherwise wait for their next score: no
            # sweep comes for them (only a future date or deadline is on the schedule).
            self.jobs.request("sync", course_id, now, requested_by="release policy")

    def set_gau(self, course_id: str, activity_id: str, gau: datetime | None, now: datetime) -> None:
        course = self.courses.get(course_id)
        if course is None:
            raise SettingRefused(f"There is no course {course_id}.")
        current = course.activities.get(activity_id)
        if current is None:
            known = self.catalog.get(activity_id)
            if known is None:
                raise SettingRefused(f"The activity {activity_id} is not in the catalog.")
            self.courses.assign_activity(course_id, activity_id, known.title, now)
        elif current.gau is not None and (current.gau <= now or current.gau_applied_at is not None):
            if gau == current.gau:
                return
            refusal = self._refusal(current.title or activity_id, current.gau, current.gau_applied_at, gau, now)
            raise SettingRefused(refusal or "The deadline cannot be moved.")
        if not self.courses.set_gau(course_id, activity_id, gau):
            raise SettingRefused(
                f"The deadline for {activity_id} has just passed and students without a grade were given zeros, "
                "so it cannot be moved or removed. Reload the gradebook to see them."
            )
