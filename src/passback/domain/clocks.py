"""The clock-skew rule for score reports: a product's clock cannot make a report newest forever.

Progress keeps the newest report by `occurred_at` (rule 3), so a report dated in the future
would beat every real report after it. A report may be dated at most `skew` after the queue
received it; past that it is refused (to the dead-letter queue, with this reason), never clamped:
clamping would put a guess in the learner's record and hide a product's broken clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_SKEW = timedelta(minutes=5)


def future_report_refusal(occurred_at: datetime, received_at: datetime, skew: timedelta = DEFAULT_SKEW) -> str | None:
    """Why a report dated `occurred_at`, received at `received_at`, is refused; None if it is accepted."""
    ahead = occurred_at - received_at
    if ahead <= skew:
        return None
    return (
        f"occurred_at {occurred_at.isoformat()} is {_span(ahead)} after the queue received the message "
        f"({received_at.isoformat()}); at most {_span(skew)} of clock skew is accepted. Fix the sending "
        "product's clock (or the date typed), then send the score again with the right occurred_at."
    )


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds} s"


# How long a refused report is shown to instructors in the gradebook (docs/gradebook.md): long
# enough for a weekly look at the gradebook to meet it, short enough that a fixed product's old
# mistake does not stay for the term. The stored notice expires (TTL) at the same time.
REFUSAL_SHOWN = timedelta(days=14)


@dataclass(frozen=True)
class RefusedReport:
    """The latest score report refused for its date, for one learner and activity in one course.

    `progress_version` is the learner's progress on the activity when it was refused: a course
    grade computed from a newer version means a report was applied since (perhaps the resend).
    `via`: "queue" (dead-lettered by the score function) or "api" (the score API answered 400).
    """

    course_id: str
    learner_id: str
    activity_id: str
    occurred_at: datetime
    received_at: datetime
    refused_at: datetime
    message_id: str
    product: str | None = None
    via: str = "queue"
    progress_version: int = 0


def refusal_shown(refused: RefusedReport, now: datetime) -> bool:
    """Whether the gradebook still shows a refusal at `now` (TTL deletion can lag by a day or two)."""
    return now < refused.refused_at + REFUSAL_SHOWN


def applied_since(refused: RefusedReport, grade_progress_version: int | None) -> bool:
    """Whether a course grade computed from `grade_progress_version` counts a report applied after the refusal."""
    return grade_progress_version is not None and grade_progress_version > refused.progress_version
