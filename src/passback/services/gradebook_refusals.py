"""What a learner's cell says about a report refused because it was dated in the future.

The notice sits beside the cell's status and never changes it: the grade and the sync status are
what the reports Passback trusts give. It says what arrived (its date, from which product, when),
why it was refused, what Passback did, and what to do. Once a report for the activity was applied
after the refusal (the resend, or newer work), the notice says so and reads as past; it is shown
for `REFUSAL_SHOWN` (14 days) after the refusal either way (docs/gradebook.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from passback.domain.clocks import RefusedReport, applied_since, refusal_shown
from passback.domain.records import CourseRecord, EnrollmentRecord
from passback.services.gradebook_marks import format_when


@dataclass(frozen=True)
class RefusalNotice:
    text: str
    # A report for the activity was applied after the refusal: nothing may be left to do.
    past: bool = False

    @property
    def label(self) -> str:
        return "earlier report refused" if self.past else "report refused"


def refusal_notice(
    refused: RefusedReport | None, grade_progress_version: int | None, now: datetime, zone: tzinfo = UTC
) -> RefusalNotice | None:
    """The notice for a cell, or None when there is none to show (none recorded, or older than 14 days)."""
    if refused is None or not refusal_shown(refused, now):
        return None
    past = applied_since(refused, grade_progress_version)
    source = f"from {refused.product}" if refused.product else "from the product"
    what = (
        f"A report {source} dated {format_when(refused.occurred_at, zone)} (message {refused.message_id}) was "
        f"refused on {format_when(refused.refused_at, zone)}: it is dated in the future, after the moment Passback "
        "received it, so the product's clock is wrong or the date was typed by hand."
    )
    kept = " Passback kept the grade from the reports it trusts; this report did not change it."
    if past:
        return RefusalNotice(
            what + kept + " A report for this activity has been applied since then: if it was this one sent again "
            "with the right time, nothing is left to do.",
            past=True,
        )
    if refused.via == "api":
        todo = (
            " What to do: ask the product's team to send that report again with the right time (their "
            "product was told at once that it was refused)."
        )
    else:
        todo = (
            " What to do: ask the product's team to fix its clock and send that report again with the right time. "
            "Passback's operator has the report in the dead-letter queue (reason: occurred_at in the future) and "
            "can redrive it once its date is no longer ahead; a date typed far ahead needs the product's resend."
        )
    return RefusalNotice(what + kept + todo)


def cell_refusal(
    refusals: Mapping[tuple[str, str], RefusedReport],
    course: CourseRecord,
    enrollment: EnrollmentRecord,
    activity_id: str,
    now: datetime,
    zone: tzinfo = UTC,
) -> RefusalNotice | None:
    """The notice on a learner's cell for an activity, from the gradebook's one read of the course."""
    refused = refusals.get((enrollment.learner_id, activity_id))
    if refused is None:
        return None
    activity = course.activities.get(activity_id)
    entry = enrollment.grades.get(activity.idx) if activity is not None else None
    return refusal_notice(refused, entry.progress_version if entry is not None else None, now, zone)
