"""The clock-skew rule for score reports: a product's clock cannot make a report newest forever.

Progress keeps the newest report by `occurred_at` (rule 3), so a report dated in the future
would beat every real report after it. A report may be dated at most `skew` after the queue
received it; past that it is refused (to the dead-letter queue, with this reason), never clamped:
clamping would put a guess in the learner's record and hide a product's broken clock.
"""

from __future__ import annotations

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
