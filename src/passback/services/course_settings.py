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
from passback.data.courses import CourseRepository, gau_due_key
from passback.data.enrollments import EnrollmentRepository
from passback.domain.records import ActivityInCourse, CourseRecord, EnrollmentRecord
from passback.domain.release import ReleasePolicy, release_stays_a_fact
from passback.services.jobs import deadline_job_id

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
    withdrawn: int = 0  # deadline zeros that would go back to "no grade yet" (an extension)

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

    def extension_summary(self) -> str:
        """The confirmation of an extension (`CourseSettings.preview_extend`)."""
        if self.refused is not None:
            return self.refused
        when = "" if self.gau is None else f" to {self.gau:%Y-%m-%d %H:%M} UTC"
        text = f"Extends the deadline of {self.title}{when} for all {self.learners} students: "
        text += f"{self.changed} grades change."
        if self.withdrawn:
            text += (
                f" {self.withdrawn} students lose their deadline zero here; the zero already in the LMS stays "
                "there until their grade registers or the new deadline passes."
            )
        return text


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
        refused = self._refusal(current.title or activity_id, current.gau, current.gau_applied_at, gau, now)
        return self._preview(course, current, gau, now, refused)

    def _preview(
        self, course: CourseRecord, current: ActivityInCourse, gau: datetime | None, now: datetime, refused: str | None
    ) -> DeadlinePreview:
        course_id, activity_id = course.course_id, current.activity_id
        title = current.title or activity_id
        scoped = replace(course, activities={activity_id: replace(current, gau=gau)})
        learners = zeros = changed = withdrawn = 0
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
            if before is not None and before.zero and new_value is None:
                withdrawn += 1
        passed = gau is not None and gau <= now
        return DeadlinePreview(
            course_id, activity_id, title, gau, passed, learners, zeros, changed, refused, withdrawn=withdrawn
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
        course = self._course(course_id)
        release_date = release_date if policy is ReleasePolicy.AT_DATE else None
        after = replace(course, release_policy=policy, release_date=release_date)
        closing = [a for a in course.activities if course.released(a, now) and not after.released(a, now)]
        self._keep_released(course, closing, now)
        self.courses.set_policy(course_id, policy, release_date)
        opened = [a for a in course.activities if after.released(a, now) and not course.released(a, now)]
        if opened:
            # Grades the new policy releases now would otherwise wait for their next score: no
            # sweep comes for them (only a future date or deadline is on the schedule).
            self.jobs.request("sync", course_id, now, requested_by="release policy")

    def set_zero_fill(self, course_id: str, never_opened: bool, now: datetime) -> bool:
        """Deadline zeros for learners who never opened Passback: sent (the default) or not (rule 13).

        A change resyncs the course: turned on, the zeros owed are sent; turned off, zeros not yet in the
        LMS stay here, and those already there stay there (Passback does not take grades back). True when
        it changed. The same choice again resyncs too: the setting is written before its resync is queued,
        so a process that died in between is repaired by repeating the change (a resync repeats nothing the
        LMS already has).
        """
        self._course(course_id)
        changed = self.courses.set_zero_fill(course_id, never_opened)
        self.jobs.request("sync", course_id, now, requested_by="zero-fill setting")
        return changed

    def _keep_released(self, course: CourseRecord, activity_ids: list[str], now: datetime) -> None:
        """Release is a fact (docs/release.md): an activity whose grades the current policy let out
        stays released when the policy (or its deadline) changes, exactly as a hand release does."""
        unmarked = [a for a in activity_ids if course.activities[a].released_at is None]
        if not unmarked:
            return
        idx = {course.activities[a].idx: a for a in unmarked}
        sent: set[str] = set()
        for enrollment in self._students(course.course_id):
            for i, activity_id in idx.items():
                entry = enrollment.grades.get(i)
                if entry is not None and entry.value is not None:
                    sent.add(activity_id)
            if len(sent) == len(idx):
                break
        for activity_id in unmarked:
            if release_stays_a_fact(released_now=True, marked=False, had_grades=activity_id in sent):
                self.courses.mark_released(course.course_id, activity_id, now)

    def set_gau(self, course_id: str, activity_id: str, gau: datetime | None, now: datetime) -> None:
        """Set, move or clear a deadline. A deadline at or before now closes the activity at once: the
        regrade it needs is queued now, with the id the deadline sweep would give it (so the sweep's
        own queueing of it is a no-op). A deadline that has passed cannot be moved here (`extend_gau`)."""
        course = self._course(course_id)
        current = course.activities.get(activity_id)
        expected = None if current is None else current.gau  # the write is conditional on it (review 18)
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
        if not self.courses.set_gau(course_id, activity_id, gau, expected=expected):
            raise SettingRefused(
                f"The deadline for {activity_id} changed while you set it: it has just passed, or someone else "
                "set it. Reload the gradebook to see it, then try again (a passed deadline moves only by an extension)."
            )
        if gau is not None and gau <= now:
            self._regrade_now(course_id, activity_id, gau, now, "deadline")

    def _regrade_now(self, course_id: str, activity_id: str, gau: datetime, now: datetime, why: str) -> None:
        due_sk, sk = gau_due_key(course_id, gau), f"CA#{activity_id}"
        self.jobs.request(
            "regrade", course_id, now, activity_id=activity_id, requested_by=why, job_id=deadline_job_id(due_sk, sk)
        )

    def preview_extend(self, course_id: str, activity_id: str, gau: datetime, now: datetime) -> DeadlinePreview:
        """What `extend_gau` would do: the same counts as `preview_gau`, `refused` set when it would refuse."""
        course = self._course(course_id)
        current = course.activities.get(activity_id)
        refused = self._extend_refusal(course_id, activity_id, current, gau, now)
        if current is None or refused is not None:
            title = current.title or activity_id if current else activity_id
            return DeadlinePreview(course_id, activity_id, title, gau, gau <= now, 0, 0, 0, refused)
        return self._preview(course, current, gau, now, None)

    def extend_gau(self, course_id: str, activity_id: str, gau: datetime, now: datetime) -> DeadlinePreview:
        """Extend a deadline that has passed, for the whole class: the explicit action (gradebook's Extend
        deadline, `passback gau extend`) that may change grades already in the LMS.

        Every grade is recomputed from the learners' timelines at the new deadline and what changed is
        synced: work done up to the new deadline now counts. A zero already in the LMS stays there until
        that student's grade registers or the new deadline passes (which gives the zero again); the
        gradebook says so. Returns what it did (the preview's counts, taken just before).
        """
        preview = self.preview_extend(course_id, activity_id, gau, now)
        if preview.refused is not None:
            raise SettingRefused(preview.refused)
        course = self._course(course_id)
        current = course.activities[activity_id]
        assert current.gau is not None
        # Under `after_gau` the old deadline released the grades: that release stays (a fact).
        self._keep_released(course, [activity_id] if course.released(activity_id, now) else [], now)
        if not self.courses.extend_gau(course_id, activity_id, current.gau, gau):
            raise SettingRefused(
                f"The deadline for {current.title or activity_id} changed while extending it. Reload and try again."
            )
        self._regrade_now(course_id, activity_id, gau, now, "deadline extended")
        return preview

    @staticmethod
    def _extend_refusal(
        course_id: str, activity_id: str, current: ActivityInCourse | None, gau: datetime, now: datetime
    ) -> str | None:
        if current is None:
            return f"The activity {activity_id} is not assigned in course {course_id}."
        title = current.title or activity_id
        if current.gau is None or (current.gau > now and current.gau_applied_at is None):
            return f"The deadline for {title} has not passed: change it with the deadline setting instead."
        if gau <= current.gau:
            return (
                f"An extension must be later than the current deadline of {title} ({current.gau:%Y-%m-%d %H:%M} UTC)."
            )
        return None
