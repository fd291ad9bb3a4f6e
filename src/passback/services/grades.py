"""Course grades on enrollments: derived from a learner's progress (rules 3, 6 and 7)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from passback.data.catalog import ActivityRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.errors import Conflict
from passback.data.progress import ProgressRepository
from passback.domain.grading import grade_from_timeline
from passback.domain.progress import Progress
from passback.domain.records import CourseRecord, EnrollmentRecord, GradeEntry


class CourseGrades:
    def __init__(
        self,
        progress: ProgressRepository,
        enrollments: EnrollmentRepository,
        catalog: ActivityRepository,
        courses: CourseRepository,
    ):
        self.progress = progress
        self.enrollments = enrollments
        self.catalog = catalog
        self.courses = courses

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
            entries[activity.idx] = GradeEntry.of(grade, p.version, activity.gau)
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

    def catch_up(self, course: CourseRecord, learner_id: str, now: datetime) -> EnrollmentRecord | None:
        """Right after creating an enrollment (with no grades): its grades from the learner's
        progress, read (consistently) after the creation, kept where newer (rule 3).

        Read before the creation, a score applied meanwhile could be missed twice: it looks for
        the learner's courses (after its progress write) before the enrollment exists, so writes no
        grade here, and writes progress after the read. Read after, one of the two reads comes
        after the other's write. One progress Query, as reading before did.
        """
        if not course.activities:
            return None
        entries = self.entries(course, self.progress.for_learner(learner_id, consistent=True), now)
        if not entries:
            return None
        record = self.enrollments.set_grades(course.course_id, learner_id, entries)
        return settle(self, course.course_id, learner_id, entries, record, now)

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
        record = self.enrollments.set_grades(course.course_id, learner_id, entries)
        return settle(self, course.course_id, learner_id, entries, record, now)


def settle(
    grades: CourseGrades,
    course_id: str,
    learner_id: str,
    written: Mapping[int, GradeEntry],
    record: EnrollmentRecord | None,
    now: datetime,
) -> EnrollmentRecord | None:
    """After a grade write, settle a race with a deadline change.

    Where the stored grade was computed under another deadline than the one just written, one of
    the two writers read the course before the deadline changed (a score applied while an
    instructor set a past deadline, say), and progress versions cannot tell which. So read the
    course and the progress afresh (consistent reads) and write those grades again as `fresh`:
    the grade under the deadline that stands now wins. Costs nothing when there is no conflict.
    """
    if record is None:
        return None
    conflicts = [
        idx
        for idx, entry in written.items()
        if (stored := record.grades.get(idx)) is not None
        and stored.deadline is not None
        and entry.deadline is not None
        and stored.deadline != entry.deadline
    ]
    if not conflicts:
        return record
    # A fresh write can itself race: another score (or another deadline change) may land between its
    # reads and its write, and a fresh write replaces a grade of another deadline whatever its progress
    # version. So read again after each fresh write, and stop only once the stored grade is of the
    # deadline that stands and of at least the progress version read (review 18).
    for _ in range(_SETTLE_ROUNDS):
        course = grades.courses.get(course_id, consistent=True)
        if course is None:
            return record
        fresh: dict[int, GradeEntry] = {}
        for idx in conflicts:
            activity = course.activity_by_idx(idx)
            if activity is None:
                continue
            progress = grades.progress.get(learner_id, activity.activity_id, consistent=True)
            grade = grade_from_timeline(progress, grades.minimum_questions(activity.activity_id), activity.gau, now)
            fresh[idx] = GradeEntry.of(grade, progress.version, activity.gau)
        if all(_settled(record.grades.get(idx), entry) for idx, entry in fresh.items()):
            return record
        record = grades.enrollments.set_grades(course_id, learner_id, fresh, fresh=True) or record
    raise Conflict(f"grades of {learner_id} in {course_id} kept changing while settling a deadline change")


_SETTLE_ROUNDS = 8


def _settled(stored: GradeEntry | None, current: GradeEntry) -> bool:
    """The stored grade was computed under the deadline that stands, from at least the progress read."""
    return (
        stored is not None
        and stored.deadline == current.deadline
        and stored.progress_version >= current.progress_version
    )
