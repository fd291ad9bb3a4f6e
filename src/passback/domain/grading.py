"""Rules 4 to 7: what grade a learner has in a course, and what a link passes back."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from passback.domain.progress import Progress, Tally


@dataclass(frozen=True)
class CourseGrade:
    """A learner's grade for one activity in one course.

    `value` is a percentage 0..100 once the grade is registered, else None. `zero` marks a
    zero given by a passed deadline rather than earned. `answered` is the most questions
    answered on or before the deadline, shown while a grade is still below threshold.
    """

    value: float | None
    answered: int = 0
    zero: bool = False

    @property
    def registered(self) -> bool:
        return self.value is not None


def grade_registers_at_threshold(answered: int, minimum_questions: int) -> bool:
    """Rule 6: a grade registers once the learner has answered the activity's minimum (at least 1)."""
    return answered >= max(1, minimum_questions)


def deadline_gives_zero(registered: bool, gau: datetime | None, now: datetime) -> bool:
    """Rule 7: once the GAU passes, a learner without a registered grade gets 0. No GAU, no zero."""
    return not registered and gau is not None and now >= gau


def course_grade(tally: Tally, minimum_questions: int, gau: datetime | None, now: datetime) -> CourseGrade:
    """Rules 6 and 7 together: the grade of one activity in one course.

    `tally` must already be restricted to the reports made on or before the course's GAU
    (`grade_from_timeline` does that).
    """
    if grade_registers_at_threshold(tally.max_answered, minimum_questions) and tally.latest_score is not None:
        return CourseGrade(value=clamp_percentage(tally.latest_score), answered=tally.max_answered)
    if deadline_gives_zero(False, gau, now):
        return CourseGrade(value=0.0, answered=tally.max_answered, zero=True)
    return CourseGrade(value=None, answered=tally.max_answered)


def grade_from_timeline(progress: Progress, minimum_questions: int, gau: datetime | None, now: datetime) -> CourseGrade:
    """A learner's grade for one activity in one course: a pure function of (their timeline, the
    course's GAU, now). The one place a course grade is computed: when a report is applied, when the
    learner enrolls, when a deadline is set, moved or extended, and after an account merge, so the
    grade cannot depend on the order those happened in (rules 3, 6 and 7)."""
    return course_grade(progress.tally_until(gau), minimum_questions, gau, now)


def homepage_composite(grades: Iterable[float | None]) -> float | None:
    """Rule 4: a homepage link passes back the average of the registered grades.

    The caller passes the grades of the activities assigned in the course (and released:
    rule 8); unregistered ones (None) do not count, GAU zeros do. None when nothing counts.
    """
    counted = sorted(g for g in grades if g is not None)
    if not counted:
        return None
    # fsum of sorted values: the same grades give the same composite in any order, to the last digit.
    return round(math.fsum(counted) / len(counted), 4)


def clamp_percentage(value: float) -> float:
    return min(100.0, max(0.0, float(value)))


def grades_are_percentages_ags(percent: float) -> tuple[float, float]:
    """Rule 5, LTI 1.3: scoreGiven out of scoreMaximum 100."""
    return (round(clamp_percentage(percent), 4), 100.0)


def grades_are_percentages_outcomes(percent: float) -> str:
    """Rule 5, LTI 1.1: a decimal 0.0 to 1.0, formatted as Basic Outcomes wants (`en`, no exponent)."""
    fraction = clamp_percentage(percent) / 100.0
    text = f"{fraction:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@dataclass(frozen=True)
class Owed:
    """What one link owes one learner: the value, whether it may leave (rule 8), questions answered."""

    value: float | None
    released: bool
    answered: int | None = None
    # Nothing owed because the course does not send deadline zeros to learners who never opened Passback.
    withheld: bool = False


@dataclass(frozen=True)
class AssignedActivity:
    activity_id: str
    released: bool
    grade: float | None
    answered: int = 0
    withheld: bool = False  # a deadline zero the course does not send (see `zero_fill_reaches`)


def zero_fill_reaches(*, zero: bool, never_opened: bool, zero_fill_never_opened: bool) -> bool:
    """Rules 7 and 13 with the course's zero-fill setting: does this grade leave for the LMS?

    In LTI 1.3 a deadline zero reaches a learner known to the course even if they never opened
    Passback (the roster brought them in). A course may turn that off (as WeBWorK does): then a
    deadline zero of a learner who never opened Passback is not sent, nor counted in the homepage
    average, until they open a link. Earned grades, and the zeros of learners who opened Passback,
    always leave.
    """
    return not (zero and never_opened and not zero_fill_never_opened)


def assigned_grade(
    value: float | None, zero: bool, *, never_opened: bool, zero_fill_never_opened: bool
) -> tuple[float | None, bool]:
    """A stored course grade as the links see it: (the grade, or None; whether a zero was withheld)."""
    if value is not None and not zero_fill_reaches(
        zero=zero, never_opened=never_opened, zero_fill_never_opened=zero_fill_never_opened
    ):
        return None, True
    return value, False


def two_link_styles(link_activity_id: str | None, assigned: Iterable[AssignedActivity]) -> Owed:
    """Rule 4 with rule 8: an activity link owes that activity's grade; a homepage link the composite.

    The composite counts only released activities, so an unreleased grade never leaks through
    the homepage column; when grades exist but none is released the link owes them "not released".
    """
    activities = list(assigned)
    if link_activity_id is not None:
        for activity in activities:
            if activity.activity_id == link_activity_id:
                return Owed(
                    value=activity.grade,
                    released=activity.released,
                    answered=activity.answered,
                    withheld=activity.withheld,
                )
        return Owed(value=None, released=False)
    composite = homepage_composite(a.grade for a in activities if a.released)
    if composite is None:
        pending = homepage_composite(a.grade for a in activities)
        withheld = pending is None and any(a.withheld for a in activities if a.released)
        return Owed(value=pending, released=pending is None, withheld=withheld)
    return Owed(value=composite, released=True)
