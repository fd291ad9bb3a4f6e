"""Progress's timeline in DynamoDB (moto): the packed encoding, the bound, and items written before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from passback.data.gradebook_models import Progress as ProgressItem
from passback.data.progress import ProgressRepository, decode_timeline, encode_timeline
from passback.domain.progress import (
    HISTORY_BOUND,
    Progress,
    ScoreReport,
    Step,
    message_tag,
    micros,
    progress_belongs_to_the_learner,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

steps = st.lists(
    st.builds(
        lambda us, mid, score, answered: Step((us, message_tag(mid)), score, answered),
        st.integers(min_value=0, max_value=micros(NOW) * 2),
        st.text(min_size=1, max_size=12),
        st.one_of(
            st.integers(0, 100).map(float),
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            st.decimals(0, 100, places=4).map(float),
        ),
        st.integers(min_value=0, max_value=10**6),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_the_packed_timeline_gives_back_exactly_the_steps_it_was_given(steps: list[Step]) -> None:
    ordered = tuple(sorted({s.key: s for s in steps}.values()))
    assert decode_timeline(encode_timeline(ordered)) == ordered


def test_a_typical_report_packs_into_at_most_sixteen_bytes() -> None:
    reports = tuple(
        Step((micros(NOW + timedelta(minutes=3 * n)), message_tag(f"m-{n}")), float(50 + n % 50), n + 1)
        for n in range(200)
    )
    assert len(encode_timeline(reports)) <= 1 + 200 * 16  # half of a DynamoDB list of the same fields


def test_an_item_from_before_the_timeline_reads_as_its_tallies_and_is_rewritten_by_its_next_change(
    aws: dict[str, str],
) -> None:
    gau = NOW - timedelta(hours=1)
    on_time_us, late_us = micros(gau - timedelta(minutes=30)), micros(NOW - timedelta(minutes=10))
    ProgressItem(
        learner_id="u1",
        activity_id="quiz-1",
        latest_us=late_us,
        latest_mid="m-late",
        latest_score=95.0,
        max_answered=9,
        cuts={"course-a": [on_time_us, "m-early", 60.0, 4]},
    ).save()
    store = ProgressRepository()
    progress = store.get("u1", "quiz-1")
    assert progress.version == 1
    assert progress.tally_until(gau).latest_score == 60.0  # course-a's grade, as the cut said
    assert progress.tally_until(gau).max_answered == 4
    assert (progress.overall.latest_score, progress.overall.max_answered) == (95.0, 9)

    report = ScoreReport("m-new", "u1", "quiz-1", answered=10, score=97.0, occurred_at=NOW)
    new = progress_belongs_to_the_learner(progress, report)
    assert new is not None
    assert store.save(new, now=NOW)
    raw = ProgressItem.get("U#u1", "P#quiz-1", consistent_read=True)
    assert raw.timeline is not None
    assert raw.cuts is None
    again = store.get("u1", "quiz-1")
    assert again.history == new.history
    assert again.tally_until(gau).latest_score == 60.0
    # The version check still guards the rewrite: a writer holding the old version loses.
    assert not store.save(new, now=NOW)


def test_a_full_timeline_stays_far_below_the_item_limit(aws: dict[str, str]) -> None:
    progress = Progress("u2", "quiz-1")
    for n in range(HISTORY_BOUND + 5):
        at = NOW - timedelta(days=30) + timedelta(minutes=n)
        report = ScoreReport(f"m-{n}", "u2", "quiz-1", answered=n, score=float(n % 101) + 0.25, occurred_at=at)
        progress = progress_belongs_to_the_learner(progress, report) or progress
    progress = replace(progress, version=1)  # built in memory: stored as a new item
    store = ProgressRepository()
    assert store.save(progress, now=NOW)
    raw = ProgressItem.get("U#u2", "P#quiz-1", consistent_read=True)
    assert raw.timeline is not None
    assert len(raw.timeline) < 20_000  # DynamoDB's limit is 400 KB
    assert store.get("u2", "quiz-1") == progress


def test_rule7_a_grade_under_another_deadline_replaces_the_stored_one_only_from_fresh_reads() -> None:
    from passback.data.enrollments import replaces
    from passback.domain.records import GradeEntry

    stored = GradeEntry(value=93.0, answered=3, progress_version=5, deadline=0)
    under_new_deadline = GradeEntry(value=0.0, answered=0, progress_version=4, zero=True, deadline=micros(NOW))
    assert not replaces(stored, under_new_deadline)  # the newer progress does not decide it...
    assert replaces(stored, under_new_deadline, fresh=True)  # ...fresh reads do
    stale = GradeEntry(value=95.0, answered=3, progress_version=9, deadline=0)
    assert not replaces(under_new_deadline, stale)
    # Same deadline: newer progress wins, and a deadline zero is not undone by an older computation.
    assert replaces(stored, GradeEntry(value=97.0, answered=4, progress_version=6, deadline=0))
    zero = GradeEntry(value=0.0, answered=0, progress_version=5, zero=True, deadline=0)
    assert not replaces(zero, GradeEntry(value=None, answered=0, progress_version=5, deadline=0))
    # Entries written before the stamp are ordered by progress version, as before.
    legacy = GradeEntry(value=80.0, answered=3, progress_version=2)
    assert replaces(legacy, under_new_deadline)
