"""The refused-report notice's item (docs/data-model.md); its repository is data/refusals.py."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from passback.data.gradebook_models import GradebookItem


class RefusedReportItem(GradebookItem, discriminator="refused_report"):
    """The latest report refused because it was dated in the future (docs/data-model.md)."""

    course_id = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    activity_id = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    received_at = UTCDateTimeAttribute()
    refused_at = UTCDateTimeAttribute()
    message_id = UnicodeAttribute()
    product = UnicodeAttribute(null=True)
    via = UnicodeAttribute()
    progress_version = NumberAttribute(default=0)
    expires = TTLAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", f"F#{kw['learner_id']}#{kw['activity_id']}"


REFUSAL_MODELS: tuple[type[GradebookItem], ...] = (RefusedReportItem,)
