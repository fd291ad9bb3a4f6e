"""Rules 7 and 13 with the course's zero-fill setting: deadline zeros of learners who never opened Passback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from passback.domain.delivery import Action, CellState, CellStatus, Decision, sync_decision
from passback.domain.grading import AssignedActivity, Owed, assigned_grade, two_link_styles, zero_fill_reaches

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zero", "never_opened", "setting", "reaches"),
    [
        (True, True, True, True),  # the default: rule 13, a 1.3 zero reaches a learner who never launched
        (True, True, False, False),  # the setting off: that zero stays in Passback
        (True, False, False, True),  # a learner who opened Passback gets their zero whatever the setting
        (False, True, False, True),  # an earned grade always leaves, even a 0 earned
    ],
)
def test_rule13_a_deadline_zero_reaches_a_learner_who_never_opened_passback_unless_the_course_says_not(
    zero: bool, never_opened: bool, setting: bool, reaches: bool
) -> None:
    assert zero_fill_reaches(zero=zero, never_opened=never_opened, zero_fill_never_opened=setting) is reaches


def test_rule13_a_withheld_zero_is_no_grade_for_the_links_and_says_it_was_withheld() -> None:
    assert assigned_grade(0.0, True, never_opened=True, zero_fill_never_opened=False) == (None, True)
    assert assigned_grade(0.0, True, never_opened=True, zero_fill_never_opened=True) == (0.0, False)
    assert assigned_grade(None, False, never_opened=True, zero_fill_never_opened=False) == (None, False)


def test_rule13_an_activity_link_owes_nothing_for_a_withheld_zero_and_says_why() -> None:
    owed = two_link_styles("quiz-1", [AssignedActivity("quiz-1", released=True, grade=None, withheld=True)])
    assert owed == Owed(value=None, released=True, answered=0, withheld=True)


def test_rule4_a_homepage_average_does_not_count_withheld_zeros() -> None:
    assigned = [
        AssignedActivity("quiz-1", released=True, grade=None, withheld=True),
        AssignedActivity("quiz-2", released=True, grade=90.0),
    ]
    assert two_link_styles(None, assigned).value == 90.0
    only_withheld = two_link_styles(None, assigned[:1])
    assert only_withheld.value is None
    assert only_withheld.withheld


def decide(cell: CellState, withheld: bool = True) -> Decision:
    return sync_decision(
        owed=None, released=True, has_target=True, merge_pending=False, cell=cell, now=NOW, withheld=withheld
    )


def test_rule13_a_withheld_zero_is_recorded_as_no_zero_sent_not_as_below_threshold() -> None:
    assert decide(CellState()) == Decision(Action.RECORD, status=CellStatus.NO_ZERO_FILL)
    assert decide(CellState(), withheld=False) == Decision(Action.RECORD, status=CellStatus.BELOW_THRESHOLD)


def test_rule13_a_zero_already_in_the_lms_stays_there_when_zero_fill_is_turned_off() -> None:
    # Synced earlier (the setting was on): nothing is sent and the cell keeps saying what the LMS has.
    assert decide(CellState(status=CellStatus.SYNCED.value, sent_value=0.0)) == Decision(Action.NOTHING)
