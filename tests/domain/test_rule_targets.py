"""Rules 9 and 13: no target, no passback (and say so); 1.3 reaches further than 1.1."""

from __future__ import annotations

import pytest

from passback.domain.targets import (
    NO_TARGET_LTI11,
    NO_TARGET_LTI13,
    NO_TARGET_NOT_LAUNCHED_13,
    AgsTarget,
    OutcomeTarget,
    no_target_no_passback,
)

LINE_ITEM = "https://canvas.example/api/lti/courses/7/line_items/31"
OUTCOMES = "https://moodle.example/mod/lti/service.php"


def test_rule13_lti13_with_line_item_and_known_lms_user_is_an_ags_target() -> None:
    target = no_target_no_passback(
        lti_version="1.3", line_item_url=LINE_ITEM, lms_user_id="sub-42", outcome_service_url=None, sourcedid=None
    )
    assert target == AgsTarget(line_item_url=LINE_ITEM, user_id="sub-42")


def test_rule13_lti13_needs_no_sourcedid_of_the_learners_own() -> None:
    # A learner known to the course can be graded on a 1.3 link they never opened (a GAU zero, say).
    target = no_target_no_passback(
        lti_version="1.3",
        line_item_url=LINE_ITEM,
        lms_user_id="sub-42",
        outcome_service_url=OUTCOMES,
        sourcedid=None,
    )
    assert isinstance(target, AgsTarget)


@pytest.mark.parametrize("line_item", [None, ""])
def test_rule9_lti13_without_line_item_says_no_grade_column(line_item: str | None) -> None:
    reason = no_target_no_passback(
        lti_version="1.3", line_item_url=line_item, lms_user_id="sub-42", outcome_service_url=None, sourcedid=None
    )
    assert reason == NO_TARGET_LTI13
    assert reason.startswith("No grade column")
    assert "launch the link once" in reason


@pytest.mark.parametrize("user_id", [None, ""])
def test_rule9_lti13_without_lms_user_id_says_open_any_link_once(user_id: str | None) -> None:
    reason = no_target_no_passback(
        lti_version="1.3", line_item_url=LINE_ITEM, lms_user_id=user_id, outcome_service_url=None, sourcedid=None
    )
    assert reason == NO_TARGET_NOT_LAUNCHED_13
    assert "open any link of this course once" in reason


def test_rule9_lti11_with_outcome_url_and_sourcedid_is_an_outcome_target() -> None:
    target = no_target_no_passback(
        lti_version="1.1", line_item_url=None, lms_user_id="u-1", outcome_service_url=OUTCOMES, sourcedid="sid-1"
    )
    assert target == OutcomeTarget(service_url=OUTCOMES, sourcedid="sid-1")


@pytest.mark.parametrize(
    ("service_url", "sourcedid"),
    [(None, "sid-1"), (OUTCOMES, None), (None, None), ("", "sid-1"), (OUTCOMES, "")],
)
def test_rule13_lti11_needs_both_outcome_url_and_the_learners_own_sourcedid(
    service_url: str | None, sourcedid: str | None
) -> None:
    reason = no_target_no_passback(
        lti_version="1.1",
        line_item_url=LINE_ITEM,
        lms_user_id="u-1",
        outcome_service_url=service_url,
        sourcedid=sourcedid,
    )
    assert reason == NO_TARGET_LTI11
    assert "this student must open this link once" in reason


def test_rule9_every_no_target_sentence_says_how_to_fix_it() -> None:
    for sentence in (NO_TARGET_LTI11, NO_TARGET_LTI13, NO_TARGET_NOT_LAUNCHED_13):
        assert "once" in sentence
        assert sentence.endswith(".")
