"""Course grades on enrollments: derived from a learner's progress (rules 3, 6 and 7)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from passback.data.catalog import ActivityRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.progress import ProgressRepository
from passback.domain.grading import grade_from_timeline
from passback.domain.progress import Progress
from passback.domain.records import CourseRecord, EnrollmentRecord, GradeEntry


class CourseGrades:
    def __init__(self, progress: ProgressRepository, enrollments: EnrollmentRepository, catalog: ActivityRepository):
        self.progress = progress
        self.enrollments = enrollments
        self.catalog = catalog

    def minimum_questions(self, activity_id: str) -> int:
        activity = self.catalog.get(activity_id)
        return int(activity.min_questions) if activity is not None else 1

    def entries(self, course: CourseRecord, progress: Iterable[Progress], now: datetime) -> dict[int, GradeEntry]:
        """Rule 3: a learner's progress, wherever it was made, becomes their grades in this course."""
        by_activity = {p.activity_id: p for p in progress}
        entries: dict[int, GradeEntry] = {}
        for activity in course.activities.values():
            found = by_activity.get(activity.activity_id)
            p = found or Progress(learner_id="", activity_id=activity.activity_id)
            grade = grade_from_timeline(p, self.minimum_questions(activity.activity_id), activity.gau, now)
            if found is None and not grade.registered:
                continue  # nothing known and nothing given: no entry
            entries[activity.idx] = GradeEntry.of(grade, p.version)
        return entries

    def entry_for(self, course: CourseRecord, learner_id: str, activity_id: str, now: datetime) -> GradeEntry | None:
        """One learner's grade for one activity under the course as given (a preview of a new
        deadline passes the course with that deadline): one GetItem of their progress."""
        if activity_id not in course.activities:
            return None
        scoped = replace(course, activities={activity_id: course.activities[activity_id]})
        entries = self.entries(scoped, [self.progress.get(learner_id, activity_id)], now)
        return entries.get(course.activities[activity_id].idx)

    def initial_entries(self, course: CourseRecord, learner_id: str, now: datetime) -> dict[int, GradeEntry]:
        """For a new enrollment: one Query of the learner's progress."""
        if not course.activities:
            return {}
        return self.entries(course, self.progress.for_learner(learner_id), now)

    def regrade(
        self, course: CourseRecord, learner_id: str, now: datetime, *, activity_id: str | None = None
    ) -> EnrollmentRecord | None:
        """Recompute one learner's grades in a course (a newly assigned activity, a deadline, a merge)."""
        if activity_id is not None:
            if activity_id not in course.activities:
                return self.enrollments.get(course.course_id, learner_id)
            progress = [self.progress.get(learner_id, activity_id)]
            scoped = replace(course, activities={activity_id: course.activities[activity_id]})
            entries = self.entries(scoped, progress, now)
        else:
            entries = self.entries(course, self.progress.for_learner(learner_id), now)
        if not entries:
            return self.enrollments.get(course.course_id, learner_id)
        return self.enrollments.set_grades(course.course_id, learner_id, entries)
