"""The launch's one LMS call: find or create the link's line item when the claim offers only the container."""

from __future__ import annotations

from passback.domain.records import CourseRecord, LinkRecord
from passback.lms.ags import LINEITEM_READ_SCOPE, LINEITEM_SCOPE
from passback.lms.gateway import LmsGateway
from passback.services.launch import LaunchFacts, LineItems


class AgsLineItems(LineItems):
    def __init__(self, lms: LmsGateway) -> None:
        self._lms = lms

    def find_or_create(self, course: CourseRecord, link: LinkRecord, facts: LaunchFacts) -> str | None:
        if not facts.line_items_url:
            return None
        can_create = LINEITEM_SCOPE in facts.ags_scopes
        if not can_create and LINEITEM_READ_SCOPE not in facts.ags_scopes:
            return None
        activity = course.activities.get(link.activity_id or "")
        label = (activity.title if activity and activity.title else None) or link.title or course.title
        if link.is_homepage:
            label = f"{label} (average)"
        return self._lms.ags.find_or_create_line_item(
            self._lms.token_endpoint(course, link),
            facts.line_items_url,
            resource_link_id=link.resource_link_id,
            resource_id=link.activity_id,
            label=label,
            can_create=can_create,
        )
