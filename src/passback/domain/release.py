"""Rule 8: nothing leaves before release."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class ReleasePolicy(StrEnum):
    IMMEDIATE = "immediate"
    AT_DATE = "at_date"
    AFTER_GAU = "after_gau"
    MANUAL = "manual"


def nothing_leaves_before_release(
    policy: ReleasePolicy,
    *,
    released_by_hand_at: datetime | None,
    release_date: datetime | None,
    gau: datetime | None,
    now: datetime,
) -> bool:
    """True when an activity's grades in a course may be sent.

    The instructor's Release Grades action always releases; otherwise the course's policy
    decides: immediately, at a date, once the activity's GAU has passed, or never by itself.
    """
    if released_by_hand_at is not None and released_by_hand_at <= now:
        return True
    if policy is ReleasePolicy.IMMEDIATE:
        return True
    if policy is ReleasePolicy.AT_DATE:
        return release_date is not None and now >= release_date
    if policy is ReleasePolicy.AFTER_GAU:
        return gau is not None and now >= gau
    return False


def automatic_release_time(
    policy: ReleasePolicy, *, release_date: datetime | None, gau: datetime | None
) -> datetime | None:
    """When the policy will release by itself, so the schedule can sync at that moment."""
    if policy is ReleasePolicy.AT_DATE:
        return release_date
    if policy is ReleasePolicy.AFTER_GAU:
        return gau
    return None


def release_stays_a_fact(*, released_now: bool, marked: bool, had_grades: bool) -> bool:
    """Whether a policy or deadline change must record the activity as released before it applies.

    Release is a fact, not a view of today's policy: grades a policy let out reached the LMS, and a
    later change of policy cannot call them back, so the activity stays released exactly as a hand
    release does. An activity the policy released but that had no grade yet was never seen released
    by anyone: it follows the new policy.
    """
    return released_now and not marked and had_grades
