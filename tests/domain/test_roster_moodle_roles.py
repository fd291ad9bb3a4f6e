"""Moodle's membership service names roles "Learner" and "Instructor", not the NRPS URIs
(mod/lti/service/memberships: lti_get_ims_role(..., $islti2 = true)); the roster reads both alike.
tests/integration/test_moodle_advantage.py shows it against a real Moodle 5.1."""

from __future__ import annotations

from passback.domain.roster import Member, roster_changes

URI = "http://purl.imsglobal.org/vocab/lis/v2/membership#"


def test_moodles_short_role_names_make_the_same_roster_plan_as_the_spec_uris() -> None:
    short = [Member("7", roles=("Learner",)), Member("3", roles=("Instructor",)), Member("1", roles=("Instructor",))]
    full = [Member("7", roles=(URI + "Learner",)), Member("3", roles=(URI + "Instructor",))]
    assert [m.user_id for m in roster_changes(short, []).new] == ["7"]
    assert [m.user_id for m in roster_changes(full, []).new] == ["7"]
    assert Member("3", roles=("Instructor",)).is_learner is False
