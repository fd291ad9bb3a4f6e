"""The roster of a course migrated from LTI 1.1: members named by `lti11_legacy_user_id` are the 1.1 learners."""

from __future__ import annotations

from passback.domain.roster import GONE, Known, Member, roster_changes

LEARNER = ("http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",)


def test_a_member_whose_legacy_id_is_a_known_11_learner_is_that_learner_not_a_new_one() -> None:
    known = [Known("L-sam", "sam", "learner", None, legacy_user_id="sam")]
    plan = roster_changes([Member("c0ffee-sam", roles=LEARNER, legacy_user_id="sam")], known)
    assert plan.new == []
    assert plan.status == []  # not gone: the 1.1 id is absent, but the learner is there
    assert plan.subs == [("L-sam", "c0ffee-sam")]


def test_a_legacy_id_of_nobody_known_is_a_new_member_and_the_unmatched_11_learner_is_gone() -> None:
    known = [Known("L-ria", "ria", "learner", None, legacy_user_id="ria")]
    plan = roster_changes([Member("c0ffee-sam", roles=LEARNER, legacy_user_id="sam")], known)
    assert [m.user_id for m in plan.new] == ["c0ffee-sam"]
    assert plan.status == [("L-ria", GONE)]
    assert plan.subs == []


def test_a_learner_already_known_by_their_13_id_needs_no_mapping() -> None:
    known = [Known("L-sam", "c0ffee-sam", "learner", None)]
    plan = roster_changes([Member("c0ffee-sam", roles=LEARNER, legacy_user_id="sam")], known)
    assert (plan.new, plan.status, plan.subs) == ([], [], [])
