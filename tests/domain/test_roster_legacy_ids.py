"""The roster of a course migrated from LTI 1.1: members named by `lti11_legacy_user_id` are the 1.1 learners."""

from __future__ import annotations

from passback.domain.roster import GONE, Known, Member, roster_changes, still_leaving

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


def test_a_legacy_id_two_members_claim_maps_neither_so_no_two_people_share_one_learner() -> None:
    """A buggy roster naming one 1.1 id for two members: binding both 1.3 ids to that learner would let the
    second person's 1.3 launches open the first one's account. Neither is mapped, nobody is added or gone."""
    known = [Known("L-sam", "sam", "learner", None, legacy_user_id="sam")]
    members = [
        Member("c0ffee-sam", roles=LEARNER, legacy_user_id="sam"),
        Member("c0ffee-eve", roles=LEARNER, legacy_user_id="sam"),
    ]
    plan = roster_changes(members, known)
    assert plan.subs == []
    assert plan.new == []
    assert plan.status == []


def test_a_legacy_id_that_is_another_members_own_id_maps_nobody_to_it() -> None:
    """The roster lists the 1.1 learner under their own id and names the same id as another member's legacy
    id: the learner is the member with that id; the other member is not bound to them."""
    known = [Known("L-sam", "sam", "learner", None, legacy_user_id="sam")]
    members = [Member("sam", roles=LEARNER), Member("c0ffee-eve", roles=LEARNER, legacy_user_id="sam")]
    plan = roster_changes(members, known)
    assert plan.subs == []
    assert plan.status == []


def test_a_second_look_keeps_the_first_reads_legacy_mappings() -> None:
    """Someone left, so the roster is read twice (services/roster.py): the 1.1 learners the first read mapped
    by their legacy ids must still get their 1.3 ids."""
    known = [
        Known("L-sam", "sam", "learner", None, legacy_user_id="sam"),
        Known("L-ria", "ria", "learner", None, legacy_user_id="ria"),
    ]
    members = [Member("c0ffee-sam", roles=LEARNER, legacy_user_id="sam")]
    first = roster_changes(members, known)
    again = roster_changes(members, known)
    plan = still_leaving(first, again)
    assert plan.subs == [("L-sam", "c0ffee-sam")]
    assert plan.status == [("L-ria", GONE)]


def test_a_roster_that_cannot_name_11_learners_neither_adds_strangers_for_them_nor_marks_them_gone() -> None:
    """A migrated course on a platform that gave users new ids in 1.3 but sends no `lti11_legacy_user_id`:
    nothing in the roster recognises the 1.1 learners. Adding its members as new learners would give each
    1.1 learner a second account (their 1.3 identity bound to it, so their own 1.3 launch could no longer
    join them), and their absence under their 1.1 ids would mark every one of them gone."""
    known = [
        Known("L-sam", "sam", "learner", None, legacy_user_id="sam"),
        Known("L-ria", "ria", "learner", None, legacy_user_id="ria"),
    ]
    members = [Member("c0ffee-sam", roles=LEARNER), Member("c0ffee-ria", roles=LEARNER)]
    plan = roster_changes(members, known)
    assert (plan.new, plan.status, plan.subs) == ([], [], [])


def test_a_roster_that_keeps_11_ids_still_adds_newcomers_and_marks_leavers() -> None:
    """Moodle keeps its ids across the move (the operator's tie): the roster names 1.1 learners by them, so
    it does speak for them: a newcomer is added and a 1.1 learner absent from it is gone."""
    known = [
        Known("L-sam", "sam", "learner", None, legacy_user_id="sam"),
        Known("L-ria", "ria", "learner", None, legacy_user_id="ria"),
    ]
    members = [Member("sam", roles=LEARNER), Member("new", roles=LEARNER)]
    plan = roster_changes(members, known)
    assert [m.user_id for m in plan.new] == ["new"]
    assert plan.status == [("L-ria", GONE)]
