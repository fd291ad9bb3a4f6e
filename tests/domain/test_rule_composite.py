"""Rule 4 (two link styles, the homepage composite) with rule 8, and rule 5 (grades are percentages)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.domain.grading import (
    AssignedActivity,
    Owed,
    grades_are_percentages_ags,
    grades_are_percentages_outcomes,
    homepage_composite,
    two_link_styles,
)

percentages = st.floats(min_value=0, max_value=100, allow_nan=False)
maybe_grades = st.lists(st.one_of(st.none(), percentages), max_size=12)


# --- rule 4: the composite ----------------------------------------------------------------------


def test_rule4_composite_is_the_mean_of_registered_grades() -> None:
    assert homepage_composite([80.0, 60.0, None, 100.0]) == 80.0


def test_rule4_composite_counts_gau_zeros() -> None:
    assert homepage_composite([90.0, 0.0]) == 45.0


def test_rule4_composite_ignores_unregistered_grades() -> None:
    assert homepage_composite([None, 70.0, None]) == 70.0


def test_rule4_composite_of_nothing_registered_is_none() -> None:
    assert homepage_composite([]) is None
    assert homepage_composite([None, None]) is None


def test_rule4_composite_of_zeros_only_is_zero_not_none() -> None:
    assert homepage_composite([0.0, None, 0.0]) == 0.0


def test_rule4_composite_is_rounded_to_four_decimals() -> None:
    assert homepage_composite([100.0, 0.0, 0.0]) == 33.3333


@given(grades=maybe_grades)
def test_rule4_composite_stays_within_0_and_100(grades: list[float | None]) -> None:
    composite = homepage_composite(grades)
    if composite is None:
        assert all(g is None for g in grades)
    else:
        assert 0.0 <= composite <= 100.0


@given(
    grades=st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=100).map(float)), max_size=12),
    data=st.data(),
)
def test_rule4_composite_of_whole_percentages_is_independent_of_activity_order(
    grades: list[float | None], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(grades), label="activity order")
    assert homepage_composite(shuffled) == homepage_composite(grades)


@given(grades=maybe_grades, data=st.data())
def test_rule4_composite_is_independent_of_activity_order_within_its_rounding(
    grades: list[float | None], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(grades), label="activity order")
    composite, reordered = homepage_composite(grades), homepage_composite(shuffled)
    assert (composite is None) == (reordered is None)
    if composite is not None and reordered is not None:
        assert abs(composite - reordered) <= 1e-4 + 1e-9


def test_rule4_composite_is_exactly_independent_of_activity_order() -> None:
    grades: list[float | None] = [5.4498, 95.5, 5.47, 32.9]
    assert homepage_composite(list(reversed(grades))) == homepage_composite(grades)


@given(grades=maybe_grades)
def test_rule4_composite_equals_a_straightforward_recomputation(grades: list[float | None]) -> None:
    counted = [g for g in grades if g is not None]
    composite = homepage_composite(grades)
    if not counted:
        assert composite is None
    else:
        assert composite is not None
        assert composite == pytest.approx(math.fsum(counted) / len(counted), abs=5e-5 + 1e-9)


# --- rule 4 with rule 8: what each link style owes -------------------------------------------


def test_rule4_activity_link_owes_exactly_its_activitys_grade() -> None:
    assigned = [
        AssignedActivity("quiz-1", released=True, grade=91.0, answered=10),
        AssignedActivity("quiz-2", released=True, grade=40.0, answered=4),
    ]
    assert two_link_styles("quiz-2", assigned) == Owed(value=40.0, released=True, answered=4)
    assert two_link_styles("quiz-1", assigned) == Owed(value=91.0, released=True, answered=10)


def test_rule4_activity_link_carries_its_activitys_release() -> None:
    assigned = [AssignedActivity("quiz-1", released=False, grade=91.0, answered=10)]
    assert two_link_styles("quiz-1", assigned) == Owed(value=91.0, released=False, answered=10)


def test_rule4_activity_link_below_threshold_owes_nothing_yet() -> None:
    assigned = [AssignedActivity("quiz-1", released=True, grade=None, answered=1)]
    assert two_link_styles("quiz-1", assigned) == Owed(value=None, released=True, answered=1)


def test_rule4_activity_link_for_an_unassigned_activity_owes_nothing() -> None:
    assigned = [AssignedActivity("quiz-1", released=True, grade=91.0)]
    assert two_link_styles("quiz-9", assigned) == Owed(value=None, released=False)


def test_rule4_homepage_link_owes_the_composite_of_released_activities_only() -> None:
    assigned = [
        AssignedActivity("quiz-1", released=True, grade=90.0),
        AssignedActivity("quiz-2", released=True, grade=70.0),
        AssignedActivity("quiz-3", released=False, grade=0.0),
        AssignedActivity("quiz-4", released=True, grade=None),
    ]
    assert two_link_styles(None, assigned) == Owed(value=80.0, released=True)


def test_rule8_homepage_link_with_grades_but_none_released_owes_a_value_not_released() -> None:
    assigned = [
        AssignedActivity("quiz-1", released=False, grade=90.0),
        AssignedActivity("quiz-2", released=False, grade=70.0),
        AssignedActivity("quiz-3", released=True, grade=None),
    ]
    owed = two_link_styles(None, assigned)
    assert owed.released is False
    assert owed.value == 80.0


def test_rule4_homepage_link_with_no_grades_owes_nothing() -> None:
    assigned = [AssignedActivity("quiz-1", released=True, grade=None)]
    assert two_link_styles(None, assigned).value is None
    assert two_link_styles(None, []).value is None


@given(
    activities=st.lists(
        st.tuples(st.booleans(), st.one_of(st.none(), st.integers(min_value=0, max_value=100).map(float))),
        max_size=8,
    ),
    data=st.data(),
)
def test_rule4_homepage_link_never_leaks_unreleased_grades(
    activities: list[tuple[bool, float | None]], data: st.DataObject
) -> None:
    assigned = [AssignedActivity(f"a{i}", released=r, grade=g) for i, (r, g) in enumerate(activities)]
    owed = two_link_styles(None, assigned)
    released_grades = [a.grade for a in assigned if a.released]
    if owed.released and owed.value is not None:
        assert owed.value == homepage_composite(released_grades)
    shuffled = data.draw(st.permutations(assigned), label="activity order")
    assert two_link_styles(None, shuffled) == owed


# --- rule 5: grades are percentages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "given_value"),
    [(89.0, 89.0), (100.0, 100.0), (0.0, 0.0), (150.0, 100.0), (-5.0, 0.0), (33.33333, 33.3333)],
)
def test_rule5_ags_score_is_given_out_of_100(percent: float, given_value: float) -> None:
    assert grades_are_percentages_ags(percent) == (given_value, 100.0)


@given(percent=st.floats(allow_nan=False))
def test_rule5_ags_score_is_always_within_0_and_100(percent: float) -> None:
    score_given, score_maximum = grades_are_percentages_ags(percent)
    assert score_maximum == 100.0
    assert 0.0 <= score_given <= 100.0
    assert score_given == pytest.approx(min(100.0, max(0.0, percent)), abs=5e-5 + 1e-9)


@pytest.mark.parametrize(
    ("percent", "text"),
    [(89.0, "0.89"), (100.0, "1.0"), (0.0, "0.0"), (50.0, "0.5"), (150.0, "1.0"), (-1.0, "0.0"), (1e-9, "0.0")],
)
def test_rule5_outcomes_score_is_a_plain_decimal(percent: float, text: str) -> None:
    assert grades_are_percentages_outcomes(percent) == text


def test_rule5_outcomes_score_of_a_third_keeps_five_decimals() -> None:
    text = grades_are_percentages_outcomes(33.333)
    assert float(text) == pytest.approx(0.33333, abs=1e-6)


@given(percent=st.floats(allow_nan=False))
def test_rule5_outcomes_score_always_parses_within_0_and_1(percent: float) -> None:
    text = grades_are_percentages_outcomes(percent)
    assert "e" not in text.lower()
    assert text.replace(".", "", 1).isdigit()
    assert text.count(".") == 1
    fraction = float(text)
    assert 0.0 <= fraction <= 1.0
    assert fraction == pytest.approx(min(100.0, max(0.0, percent)) / 100.0, abs=5e-7 + 1e-12)
