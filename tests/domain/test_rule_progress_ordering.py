"""Rule 3 (progress belongs to the learner), the ordering of score messages, and rule 7's cut.

SQS delivers at least once and in any order: the progress a learner ends up with must not
depend on the order of delivery nor on duplicates, and the tally at a course's GAU (read from
the timeline, whenever the deadline was set) must never include work done after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from passback.domain.progress import (
    HISTORY_BOUND,
    Progress,
    ScoreReport,
    Tally,
    message_tag,
    progress_belongs_to_the_learner,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def report(message_id: str, *, at_ms: int, answered: int, score: float) -> ScoreReport:
    return ScoreReport(
        message_id=message_id,
        learner_id="learner-1",
        activity_id="quiz-1",
        answered=answered,
        score=score,
        occurred_at=T0 + timedelta(milliseconds=at_ms),
    )


def apply_all(reports: Iterable[ScoreReport]) -> tuple[Progress, int]:
    """Apply reports one by one as the score flow does; return the progress and how many changed it."""
    progress = Progress(learner_id="learner-1", activity_id="quiz-1")
    changes = 0
    for item in reports:
        new = progress_belongs_to_the_learner(progress, item)
        if new is not None:
            assert new.version == progress.version + 1
            progress = new
            changes += 1
    return progress, changes


def reference_tally(reports: Iterable[ScoreReport]) -> Tally:
    """What a set of reports adds up to, computed from scratch: newest by (microseconds, message id), most answered."""
    unique = {r.message_id: r for r in reports}.values()
    if not unique:
        return Tally()
    newest = max(
        unique, key=lambda r: ((r.occurred_at - EPOCH) // timedelta(microseconds=1), message_tag(r.message_id))
    )
    return Tally(
        latest_key=((newest.occurred_at - EPOCH) // timedelta(microseconds=1), message_tag(newest.message_id)),
        latest_score=newest.score,
        max_answered=max(r.answered for r in unique),
    )


# --- unit tests -------------------------------------------------------------------------------


def test_rule3_first_report_starts_progress_at_version_1() -> None:
    first = report("m1", at_ms=0, answered=3, score=60.0)
    progress = progress_belongs_to_the_learner(Progress("learner-1", "quiz-1"), first)
    assert progress is not None
    assert progress.version == 1
    assert progress.overall.latest_score == 60.0
    assert progress.overall.max_answered == 3
    assert progress.tally_until(T0 + timedelta(days=1)) == progress.overall


def test_rule3_duplicate_report_changes_nothing() -> None:
    first = report("m1", at_ms=0, answered=3, score=60.0)
    progress, _ = apply_all([first])
    assert progress_belongs_to_the_learner(progress, first) is None


def test_rule3_duplicate_report_changes_nothing_and_keeps_no_second_copy() -> None:
    late = report("late", at_ms=20_000, answered=5, score=90.0)
    progress, _ = apply_all([late])
    assert progress_belongs_to_the_learner(progress, late) is None
    assert len(progress.history) == 1


def test_rule3_older_report_never_overwrites_newer_score() -> None:
    newer = report("m2", at_ms=5_000, answered=4, score=80.0)
    older = report("m1", at_ms=1_000, answered=2, score=40.0)
    progress, _ = apply_all([newer])
    joined = progress_belongs_to_the_learner(progress, older)
    assert joined is not None  # it joins the timeline: a deadline between the two would count it
    assert joined.overall.latest_score == 80.0
    assert joined.tally_until(T0 + timedelta(milliseconds=2_000)).latest_score == 40.0


def test_rule3_older_report_with_more_answered_raises_answered_but_keeps_newer_score() -> None:
    newer = report("m2", at_ms=5_000, answered=4, score=80.0)
    older = report("m1", at_ms=1_000, answered=9, score=40.0)
    progress, _ = apply_all([newer, older])
    assert progress.overall.latest_score == 80.0
    assert progress.overall.max_answered == 9
    assert progress.version == 2


def test_rule3_same_instant_reports_are_ordered_by_message_tag_whatever_the_arrival_order() -> None:
    a = report("a", at_ms=1_000, answered=1, score=10.0)
    b = report("b", at_ms=1_000, answered=1, score=20.0)
    assert apply_all([a, b])[0].overall == apply_all([b, a])[0].overall
    winner = max((a, b), key=lambda r: message_tag(r.message_id))
    assert apply_all([b, a])[0].overall.latest_score == winner.score


def test_rule3_version_increments_only_on_change() -> None:
    r1 = report("m1", at_ms=0, answered=1, score=10.0)
    r2 = report("m2", at_ms=1_000, answered=2, score=20.0)
    progress, changes = apply_all([r1, r1, r2, r1, r2, r2])
    assert changes == 2
    assert progress.version == 2


def test_rule3_newer_report_wins_even_within_one_millisecond() -> None:
    older = ScoreReport("m-zzz", "learner-1", "quiz-1", answered=5, score=50.0, occurred_at=T0)
    newer = ScoreReport(
        "m-aaa", "learner-1", "quiz-1", answered=6, score=60.0, occurred_at=T0 + timedelta(microseconds=400)
    )
    progress, _ = apply_all([older, newer])
    assert progress.overall.latest_score == 60.0


# --- deadlines (rule 7's cut) ------------------------------------------------------------------

GAU = T0 + timedelta(seconds=60)


def test_rule7_report_after_gau_never_changes_that_courses_tally_but_changes_overall() -> None:
    on_time = report("m1", at_ms=10_000, answered=5, score=50.0)
    late = report("m2", at_ms=120_000, answered=8, score=95.0)
    before, _ = apply_all([on_time])
    after = progress_belongs_to_the_learner(before, late)
    assert after is not None
    assert after.tally_until(GAU) == before.tally_until(GAU)
    assert after.tally_until(GAU).latest_score == 50.0
    assert after.tally_until(GAU).max_answered == 5
    assert after.overall.latest_score == 95.0
    assert after.overall.max_answered == 8
    # A course without a deadline sees the late work (it is the learner's progress: rule 3).
    assert after.tally_until(None).latest_score == 95.0


def test_rule7_report_exactly_at_gau_is_on_time() -> None:
    at_gau = report("m1", at_ms=60_000, answered=5, score=70.0)
    progress, _ = apply_all([at_gau])
    assert progress.tally_until(GAU).latest_score == 70.0


def test_rule7_only_late_work_leaves_the_course_tally_empty() -> None:
    late = report("m1", at_ms=61_000, answered=5, score=70.0)
    progress, _ = apply_all([late])
    assert progress.tally_until(GAU) == Tally()
    assert progress.overall.latest_score == 70.0


def test_rule7_on_time_report_arriving_after_late_ones_still_counts_for_the_course() -> None:
    late = report("late", at_ms=90_000, answered=10, score=99.0)
    on_time = report("early", at_ms=30_000, answered=4, score=44.0)
    progress, changes = apply_all([late, on_time])
    assert changes == 2
    assert progress.tally_until(GAU).latest_score == 44.0
    assert progress.tally_until(GAU).max_answered == 4
    assert progress.overall.latest_score == 99.0
    assert progress.overall.max_answered == 10
    reverse, _ = apply_all([on_time, late])
    assert reverse.history == progress.history


def test_rule7_each_course_keeps_its_own_deadline() -> None:
    deadlines = {"early-course": T0 + timedelta(seconds=10), "late-course": T0 + timedelta(seconds=100)}
    reports = [
        report("m1", at_ms=5_000, answered=1, score=10.0),
        report("m2", at_ms=50_000, answered=2, score=20.0),
        report("m3", at_ms=500_000, answered=3, score=30.0),
    ]
    progress, _ = apply_all(reversed(reports))
    assert progress.tally_until(deadlines["early-course"]).latest_score == 10.0
    assert progress.tally_until(deadlines["late-course"]).latest_score == 20.0
    assert progress.tally_until(None).latest_score == 30.0


# --- properties ---------------------------------------------------------------------------------

report_specs = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=200_000),  # occurred_at, ms after T0
        st.integers(min_value=0, max_value=50),  # answered
        st.floats(min_value=0, max_value=100, allow_nan=False),  # score
    ),
    min_size=1,
    max_size=25,
)
deadline_specs = st.dictionaries(
    st.sampled_from(["course-a", "course-b", "course-c"]),
    st.integers(min_value=-10_000, max_value=210_000).map(lambda ms: T0 + timedelta(milliseconds=ms)),
    max_size=3,
)


def build_reports(specs: list[tuple[int, int, float]]) -> list[ScoreReport]:
    return [report(f"m{i:03d}", at_ms=ms, answered=a, score=s) for i, (ms, a, s) in enumerate(specs)]


@settings(max_examples=150, deadline=None)
@given(specs=report_specs, deadlines=deadline_specs, data=st.data())
def test_rule3_final_progress_is_independent_of_order_and_duplicates(
    specs: list[tuple[int, int, float]], deadlines: dict[str, datetime], data: st.DataObject
) -> None:
    reports = build_reports(specs)
    in_order, changes_in_order = apply_all(reports)
    duplicates = data.draw(st.lists(st.sampled_from(reports), max_size=10), label="duplicates")
    shuffled = data.draw(st.permutations(reports + duplicates), label="delivery order")
    redelivered, _ = apply_all(shuffled)
    assert redelivered.history == in_order.history
    for gau in [*deadlines.values(), None]:
        assert redelivered.tally_until(gau) == in_order.tally_until(gau)
    assert in_order.version == changes_in_order


@settings(max_examples=150, deadline=None)
@given(specs=report_specs, deadlines=deadline_specs, data=st.data())
def test_rule3_progress_equals_a_recomputation_from_scratch(
    specs: list[tuple[int, int, float]], deadlines: dict[str, datetime], data: st.DataObject
) -> None:
    reports = build_reports(specs)
    shuffled = data.draw(st.permutations(reports), label="delivery order")
    progress, _ = apply_all(shuffled)
    assert progress.overall == reference_tally(reports)
    for gau in deadlines.values():
        on_time = [r for r in reports if r.occurred_at <= gau]
        assert progress.tally_until(gau) == reference_tally(on_time)


@settings(max_examples=100, deadline=None)
@given(specs=report_specs, deadlines=deadline_specs, data=st.data())
def test_rule3_reapplying_any_seen_report_changes_nothing(
    specs: list[tuple[int, int, float]], deadlines: dict[str, datetime], data: st.DataObject
) -> None:
    reports = build_reports(specs)
    progress, _ = apply_all(reports)
    again = data.draw(st.sampled_from(reports), label="redelivered")
    assert progress_belongs_to_the_learner(progress, again) is None


@settings(max_examples=100, deadline=None)
@given(specs=report_specs, data=st.data())
def test_rule7_late_reports_never_change_the_course_tally(
    specs: list[tuple[int, int, float]], data: st.DataObject
) -> None:
    reports = build_reports(specs)
    gau = T0 + timedelta(milliseconds=data.draw(st.integers(min_value=0, max_value=200_000), label="gau ms"))
    on_time = [r for r in reports if r.occurred_at <= gau]
    late = [r for r in reports if r.occurred_at > gau]
    only_on_time, _ = apply_all(on_time)
    everything, _ = apply_all(data.draw(st.permutations(reports), label="delivery order"))
    assert everything.tally_until(gau) == only_on_time.tally_until(gau)
    if late:
        assert everything.overall == reference_tally(reports)
        assert everything.overall.max_answered == max(r.answered for r in reports)


# --- the bound ----------------------------------------------------------------------------------


def test_history_past_its_bound_folds_the_oldest_reports_and_stays_exact_after_them() -> None:
    extra = 50
    reports = [
        report(f"m{i:05d}", at_ms=i * 1_000, answered=i, score=float(i % 100)) for i in range(HISTORY_BOUND + extra)
    ]
    progress, _ = apply_all(reversed(reports))
    assert len(progress.history) == HISTORY_BOUND
    assert progress.floor.max_answered == extra - 1
    assert progress.overall == reference_tally(reports)
    # Exact for any deadline after the newest folded report...
    gau = T0 + timedelta(milliseconds=(extra + 10) * 1_000)
    assert progress.tally_until(gau) == reference_tally([r for r in reports if r.occurred_at <= gau])
    # ...and for one before it, the folded reports count as on time (documented, generous).
    early = progress.tally_until(T0)
    assert early.latest_score == float(extra - 1)
    # A report older than the folded ones joins the floor; its duplicate changes nothing.
    ancient = report("ancient", at_ms=-5_000, answered=10_000, score=1.0)
    folded = progress_belongs_to_the_learner(progress, ancient)
    assert folded is not None
    assert len(folded.history) == HISTORY_BOUND
    assert folded.overall.max_answered == 10_000
    assert progress_belongs_to_the_learner(folded, ancient) is None
