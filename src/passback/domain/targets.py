"""Rules 9 and 13: where a link's grade for one learner goes, and what to say when nowhere."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgsTarget:
    """LTI 1.3: the link's line item accepts a score for any enrolled `sub` (rule 13)."""

    line_item_url: str
    user_id: str


@dataclass(frozen=True)
class OutcomeTarget:
    """LTI 1.1: the learner's own sourcedid from their own launch of that very link."""

    service_url: str
    sourcedid: str


Target = AgsTarget | OutcomeTarget

NO_TARGET_LTI13 = (
    "No grade column: the LMS did not offer Assignment and Grade Services on this link. "
    "Ask the LMS admin to enable the AGS scopes for this tool, then launch the link once as instructor."
)
NO_TARGET_LTI11 = (
    "No target: this student must open this link once from the LMS (opening and closing it is enough); "
    "the grade is sent the moment they do."
)
NO_TARGET_NOT_LAUNCHED_13 = (
    "No target yet: this student has not launched any link of this course from the LMS, so their LMS id "
    "is unknown. The grade is sent the moment they open any link of this course once."
)


def no_target_no_passback(
    *,
    lti_version: str,
    line_item_url: str | None,
    lms_user_id: str | None,
    outcome_service_url: str | None,
    sourcedid: str | None,
) -> Target | str:
    """The target for one learner on one link, or the sentence that says why there is none.

    LTI 1.3 reaches further than 1.1 (rule 13): the line item belongs to the link, so any
    learner whose LMS id the course knows can be graded there, launched or not. LTI 1.1 needs
    the learner's own sourcedid for that link, which only their own launch provides (rule 9).
    """
    if lti_version == "1.3":
        if not line_item_url:
            return NO_TARGET_LTI13
        if not lms_user_id:
            return NO_TARGET_NOT_LAUNCHED_13
        return AgsTarget(line_item_url=line_item_url, user_id=lms_user_id)
    if outcome_service_url and sourcedid:
        return OutcomeTarget(service_url=outcome_service_url, sourcedid=sourcedid)
    return NO_TARGET_LTI11
