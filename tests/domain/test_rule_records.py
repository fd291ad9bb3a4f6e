"""The gradebook's plain records: a stored grade (rules 6 and 7) and a delivery attempt (rule 10) survive storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from passback.domain.grading import CourseGrade
from passback.domain.records import ActivityInCourse, Attempt, CourseRecord, GradeEntry
from passback.domain.release import ReleasePolicy

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

grade_entries = st.builds(
    GradeEntry,
    value=st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False)),
    answered=st.integers(min_value=0, max_value=100_000),
    progress_version=st.integers(min_value=0, max_value=2**40),
    zero=st.booleans(),
)
attempts = st.builds(
    Attempt,
    at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]),
    ),
    value=st.floats(min_value=0, max_value=100, allow_nan=False),
    outcome=st.sampled_from(["synced", "retryable", "permanent", "user not in course", "LMS has newer"]),
    status=st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
    message=st.text(max_size=200),
)


@given(entry=grade_entries)
def test_rule6_rule7_grade_entry_round_trips_through_its_list(entry: GradeEntry) -> None:
    assert GradeEntry.from_list(entry.to_list()) == entry


@given(entry=grade_entries)
def test_rule6_rule7_grade_entry_round_trips_through_dynamodb_decimals(entry: GradeEntry) -> None:
    stored = [None if v is None else Decimal(str(v)) for v in entry.to_list()]
    assert GradeEntry.from_list(stored) == entry


def test_rule7_grade_entry_keeps_a_deadline_zero_apart_from_an_earned_zero() -> None:
    zero = GradeEntry.of(CourseGrade(value=0.0, answered=2, zero=True), progress_version=7)
    earned = GradeEntry.of(CourseGrade(value=0.0, answered=9), progress_version=7)
    assert zero.to_list() == [0.0, 2, 7, 1, 0]
    assert earned.to_list() == [0.0, 9, 7, 0, 0]
    assert GradeEntry.from_list(zero.to_list()).zero is True
    assert GradeEntry.from_list(earned.to_list()).zero is False


def test_rule7_grade_entry_remembers_the_deadline_it_was_computed_under() -> None:
    gau = NOW - timedelta(hours=1)
    entry = GradeEntry.of(CourseGrade(value=0.0, answered=0, zero=True), progress_version=3, gau=gau)
    restored = GradeEntry.from_list(entry.to_list())
    assert restored == entry
    assert restored.deadline == (gau - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert GradeEntry.from_list([80.0, 3, 2, 0]).deadline is None  # written before the stamp existed


def test_rule6_grade_entry_reads_a_short_legacy_list() -> None:
    assert GradeEntry.from_list([55.5]) == GradeEntry(value=55.5, answered=0, progress_version=0, zero=False)
    assert GradeEntry.from_list([None, 2]) == GradeEntry(value=None, answered=2, progress_version=0, zero=False)


@given(attempt=attempts)
def test_rule10_attempt_round_trips_through_its_list(attempt: Attempt) -> None:
    restored = Attempt.from_list(attempt.to_list())
    assert restored == attempt
    assert restored.at.utcoffset() == attempt.at.utcoffset()


def test_rule10_attempt_keeps_the_first_200_characters_of_the_lms_message() -> None:
    attempt = Attempt(at=NOW, value=80.0, outcome="permanent", status=400, message="x" * 500)
    restored = Attempt.from_list(attempt.to_list())
    assert restored.message == "x" * 200
    assert restored.status == 400


def test_rule8_course_record_releases_through_its_policy() -> None:
    course = CourseRecord(
        course_id="c1",
        platform_id="p1",
        platform_key="k1",
        lti_version="1.3",
        context_id="ctx",
        title="Biology",
        release_policy=ReleasePolicy.MANUAL,
        activities={
            "quiz-1": ActivityInCourse("quiz-1", idx=0, released_at=NOW - timedelta(minutes=1)),
            "quiz-2": ActivityInCourse("quiz-2", idx=1),
        },
    )
    assert course.released("quiz-1", NOW) is True
    assert course.released("quiz-2", NOW) is False
    assert course.released("not-assigned", NOW) is False
