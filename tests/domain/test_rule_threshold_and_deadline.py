"""Rules 6 and 7: a grade registers at a threshold; deadlines give zeros."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.domain.grading import CourseGrade, course_grade, deadline_gives_zero, grade_registers_at_threshold
from passback.domain.progress import Tally

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PAST = NOW - timedelta(days=1)
FUTURE = NOW + timedelta(days=1)


def tally(answered: int, score: float | None) -> Tally:
    key = None if score is None else (0, "m1")
    return Tally(latest_key=key, latest_score=score, max_answered=answered)


@pytest.mark.parametrize(
    ("answered", "minimum", "registered"),
    [(0, 3, False), (2, 3, False), (3, 3, True), (4, 3, True), (0, 1, False), (1, 1, True)],
)
def test_rule6_grade_registers_only_at_the_minimum(answered: int, minimum: int, registered: bool) -> None:
    assert grade_registers_at_threshold(answered, minimum) is registered


@pytest.mark.parametrize("minimum", [0, -5])
def test_rule6_minimum_is_at_least_one(minimum: int) -> None:
    assert grade_registers_at_threshold(0, minimum) is False
    assert grade_registers_at_threshold(1, minimum) is True
    assert course_grade(tally(0, None), minimum, None, NOW) == course_grade(tally(0, None), 1, None, NOW)
    assert course_grade(tally(0, None), minimum, None, NOW).value is None


def test_rule6_no_grade_below_threshold() -> None:
    grade = course_grade(tally(2, 75.0), 3, None, NOW)
    assert grade == CourseGrade(value=None, answered=2, zero=False)
    assert not grade.registered


def test_rule6_once_registered_the_latest_score_counts() -> None:
    grade = course_grade(tally(5, 42.5), 3, None, NOW)
    assert grade == CourseGrade(value=42.5, answered=5, zero=False)
    assert grade.registered
    assert course_grade(tally(6, 88.0), 3, None, NOW).value == 88.0


def test_rule6_registered_score_is_clamped_to_a_percentage() -> None:
    assert course_grade(tally(5, 130.0), 1, None, NOW).value == 100.0
    assert course_grade(tally(5, -3.0), 1, None, NOW).value == 0.0


def test_rule6_empty_progress_gives_no_grade() -> None:
    assert course_grade(Tally(), 1, None, NOW) == CourseGrade(value=None, answered=0)


def test_rule7_gau_passed_and_unregistered_gives_zero() -> None:
    grade = course_grade(tally(2, 75.0), 3, PAST, NOW)
    assert grade == CourseGrade(value=0.0, answered=2, zero=True)
    assert grade.registered


def test_rule7_zero_is_due_at_the_gau_itself() -> None:
    assert course_grade(Tally(), 1, NOW, NOW) == CourseGrade(value=0.0, answered=0, zero=True)
    assert deadline_gives_zero(False, NOW, NOW) is True


def test_rule7_no_zero_before_the_gau() -> None:
    assert course_grade(tally(2, 75.0), 3, FUTURE, NOW) == CourseGrade(value=None, answered=2)
    assert deadline_gives_zero(False, FUTURE, NOW) is False


def test_rule7_no_gau_never_gives_a_zero() -> None:
    far_future = NOW + timedelta(days=365 * 50)
    assert course_grade(Tally(), 5, None, far_future).value is None
    assert deadline_gives_zero(False, None, far_future) is False


def test_rule7_registered_grades_are_kept_after_the_gau() -> None:
    grade = course_grade(tally(5, 64.0), 3, PAST, NOW)
    assert grade == CourseGrade(value=64.0, answered=5, zero=False)
    assert deadline_gives_zero(True, PAST, NOW) is False


@given(
    answered=st.integers(min_value=0, max_value=100),
    minimum=st.integers(min_value=-2, max_value=100),
    score=st.floats(min_value=0, max_value=100, allow_nan=False),
    gau_offset=st.one_of(st.none(), st.integers(min_value=-10_000, max_value=10_000)),
)
def test_rule6_and_rule7_course_grade_is_registered_score_or_zero_or_nothing(
    answered: int, minimum: int, score: float, gau_offset: int | None
) -> None:
    gau = None if gau_offset is None else NOW + timedelta(seconds=gau_offset)
    grade = course_grade(tally(answered, score), minimum, gau, NOW)
    assert grade.answered == answered
    if answered >= max(1, minimum):
        assert grade == CourseGrade(value=score, answered=answered, zero=False)
    elif gau is not None and gau <= NOW:
        assert grade == CourseGrade(value=0.0, answered=answered, zero=True)
    else:
        assert grade == CourseGrade(value=None, answered=answered, zero=False)
