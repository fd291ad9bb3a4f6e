"""Refused-report notices: the latest score report refused for its date, per course, learner and activity.

One small item per (course, learner, activity), in the course's partition (`C#<course>`,
`F#<learner>#<activity>`), so the gradebook's one Query reads it with everything else and nothing
reads per learner. It is written only when a report is refused (never on the way of an accepted
score), by a conditional Put that keeps the latest refusal (`received_at` newer than the stored
one), so however many future-dated reports a product sends, a learner has at most one notice per
activity in each course that assigns it, and each is under 1 KB. It never touches cells,
enrollments or progress: it cannot change a grade nor race with the send protocol. It expires
(TTL `expires`) when the gradebook stops showing it (`domain.clocks.REFUSAL_SHOWN`).
"""

from __future__ import annotations

from pynamodb.exceptions import PutError

from passback.data.errors import is_conditional_failure
from passback.data.refusal_models import RefusedReportItem
from passback.data.tables import ensure_bound
from passback.domain.clocks import REFUSAL_SHOWN, RefusedReport

_TEXT_LIMIT = 256  # bounds what a product's message puts here (message ids are at most 256 already)


def refusal_record(item: RefusedReportItem) -> RefusedReport:
    return RefusedReport(
        course_id=item.course_id,
        learner_id=item.learner_id,
        activity_id=item.activity_id,
        occurred_at=item.occurred_at,
        received_at=item.received_at,
        refused_at=item.refused_at,
        message_id=item.message_id,
        product=item.product,
        via=item.via,
        progress_version=int(item.progress_version or 0),
    )


class RefusalRepository:
    def __init__(self) -> None:
        ensure_bound()

    def record(self, refused: RefusedReport) -> bool:
        """Keep `refused` unless a refusal received later is stored already; False when it was not the latest."""
        item = RefusedReportItem(
            course_id=refused.course_id,
            learner_id=refused.learner_id,
            activity_id=refused.activity_id,
            occurred_at=refused.occurred_at,
            received_at=refused.received_at,
            refused_at=refused.refused_at,
            message_id=refused.message_id[:_TEXT_LIMIT],
            product=refused.product[:_TEXT_LIMIT] if refused.product else None,
            via=refused.via,
            progress_version=refused.progress_version,
            expires=refused.refused_at + REFUSAL_SHOWN,
        )
        try:
            item.save(
                condition=RefusedReportItem.pk.does_not_exist() | (RefusedReportItem.received_at < refused.received_at)
            )
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def get(self, course_id: str, learner_id: str, activity_id: str) -> RefusedReport | None:
        pk, sk = RefusedReportItem.keys_for(course_id=course_id, learner_id=learner_id, activity_id=activity_id)
        try:
            return refusal_record(RefusedReportItem.get(pk, sk))
        except RefusedReportItem.DoesNotExist:
            return None
