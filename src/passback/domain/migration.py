"""LTI 1.1 to 1.3 without losing anyone: where a migrated course's grades go (docs/migration.md).

A course Passback knew through LTI 1.1 keeps its id, learners, cells and history when its LMS
starts launching it through LTI 1.3. Each link then has its own protocol: a link launched through
1.3 since the move has a line item and goes by AGS; a link only ever launched through 1.1 keeps
Basic Outcomes. AGS names the learner by their 1.3 `sub`, which Passback learns from their first
1.3 launch (or is the 1.1 `user_id` when the LMS kept its ids); until then, a learner whose 1.1
sourcedid Passback holds for that link keeps getting grades by Basic Outcomes, which reach the same
LMS column, so nobody waits for a launch.
"""

from __future__ import annotations

from passback.domain.targets import (
    NO_TARGET_LTI11,
    NO_TARGET_LTI13,
    AgsTarget,
    OutcomeTarget,
    Target,
)

AGS = "AGS (LTI 1.3)"
BASIC_OUTCOMES = "Basic Outcomes (LTI 1.1)"

NO_TARGET_NOT_LAUNCHED_SINCE_MOVE = (
    "No target yet: this course moved to LTI 1.3 and this student has not opened any of its links since, so "
    "their LTI 1.3 id is unknown. The grade is sent the moment they open any link of this course once."
)


def migrated_target(
    *,
    link_lti_version: str,
    line_item_url: str | None,
    lti13_user_id: str | None,
    outcome_service_url: str | None,
    sourcedid: str | None,
) -> Target | str:
    """The target for one learner on one link of a course that moved from LTI 1.1 to 1.3."""
    if link_lti_version == "1.3" and line_item_url and lti13_user_id:
        return AgsTarget(line_item_url=line_item_url, user_id=lti13_user_id)
    if outcome_service_url and sourcedid:
        return OutcomeTarget(service_url=outcome_service_url, sourcedid=sourcedid)
    if link_lti_version == "1.3":
        return NO_TARGET_NOT_LAUNCHED_SINCE_MOVE if line_item_url else NO_TARGET_LTI13
    return NO_TARGET_LTI11


def protocol_of(target: Target | str) -> str | None:
    """What the gradebook shows for a cell: the protocol its grade goes by, or None (no target)."""
    if isinstance(target, AgsTarget):
        return AGS
    if isinstance(target, OutcomeTarget):
        return BASIC_OUTCOMES
    return None
