"""Course settings an instructor changes: the release policy and each activity's deadline (GAU).

A deadline that has passed cannot be moved or removed: its zeros may already be in the LMS
gradebook, and taking them back silently would be worse than saying no. Setting a deadline
that is already in the past is allowed: it means "close it now" (applied by the next sweep).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from passback.data.catalog import ActivityRepository
from passback.data.courses import CourseRepository
from passback.domain.release import ReleasePolicy

if TYPE_CHECKING:
    from passback.services.jobs import CourseJobs


class SettingRefused(Exception):
    """The change is refused; the message says why and what the instructor can do instead."""


class CourseSettings:
    def __init__(self, courses: CourseRepository, catalog: ActivityRepository, jobs: CourseJobs) -> None:
        self.courses = courses
        self.catalog = catalog
        self.jobs = jobs

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
            raise SettingRefused(
                f"The deadline for {current.title or activity_id} passed on {current.gau:%Y-%m-%d %H:%M} UTC and "
                "students without a grade were given zeros, which may already be in the LMS gradebook, so it cannot "
                "be moved or removed. To accept late work from a student, enter their grade in the LMS gradebook."
            )
        if not self.courses.set_gau(course_id, activity_id, gau):
            raise SettingRefused(
                f"The deadline for {activity_id} has just passed and students without a grade were given zeros, "
                "so it cannot be moved or removed. Reload the gradebook to see them."
            )
