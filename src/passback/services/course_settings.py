"""Course settings an instructor changes: the release policy and each activity's deadline (GAU).

A deadline that has passed cannot be moved or removed: its zeros may already be in the LMS
gradebook, and taking them back silently would be worse than saying no. Setting a deadline
that is already in the past is allowed: it means "close it now" (applied by the next sweep).
"""

from __future__ import annotations

from datetime import datetime

from passback.data.catalog import ActivityRepository
from passback.data.courses import CourseRepository
from passback.domain.release import ReleasePolicy


class SettingRefused(Exception):
    """The change is refused; the message says why and what the instructor can do instead."""


class CourseSettings:
    def __init__(self, courses: CourseRepository, catalog: ActivityRepository) -> None:
        self.courses = courses
        self.catalog = catalog

    def set_policy(self, course_id: str, policy: ReleasePolicy, release_date: datetime | None) -> None:
        if policy is ReleasePolicy.AT_DATE and release_date is None:
            raise SettingRefused("The 'at a date' release policy needs a date.")
        if self.courses.get(course_id) is None:
            raise SettingRefused(f"There is no course {course_id}.")
        self.courses.set_policy(course_id, policy, release_date if policy is ReleasePolicy.AT_DATE else None)

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
