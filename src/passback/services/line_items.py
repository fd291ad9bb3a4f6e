"""Line items Passback manages: find or create a link's column once, recreate a deleted one.

A launch that carries the AGS container (`lineitems`) but no `lineitem` (a homepage link, a course
navigation launch) needs the link's column. Two launches of a new link can arrive in the same second
on two Lambda instances, so creating is claimed first (a conditional write on the link): the winner
looks once more and creates; a loser waits briefly for the winner's URL, else looks again. No LMS
ever gets two columns for one link from Passback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

from passback.clock import utcnow
from passback.data.courses import CourseRepository
from passback.domain.records import CourseRecord, LinkRecord
from passback.lms.ags import LINEITEM_READ_SCOPE, LINEITEM_SCOPE
from passback.lms.errors import LmsError
from passback.lms.gateway import LmsGateway
from passback.lms.line_items import LineItemsClient
from passback.observability import logger
from passback.services.launch import LaunchFacts, LineItems

CLAIM_STALE_SECONDS = 60
WAIT_FOR_WINNER = (0.2, 0.3, 0.5, 0.8, 1.2)  # seconds, about three in all: inside any launch's patience
HOMEPAGE_RESOURCE = "homepage"


class ColumnNotRecreated(Exception):
    """The column could not be recreated; the message says why and what to do."""


def column_label(course: CourseRecord, link: LinkRecord) -> str:
    activity = course.activities.get(link.activity_id or "")
    label = (activity.title if activity and activity.title else None) or link.title or course.title
    return f"{label} (average)" if link.is_homepage else label


def resource_of(link: LinkRecord) -> str:
    return link.activity_id or HOMEPAGE_RESOURCE


class LineItemService(LineItems):
    def __init__(
        self,
        courses: CourseRepository,
        lms: LmsGateway,
        client: LineItemsClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.courses = courses
        self.lms = lms
        self.client = client
        self._sleep = sleep
        self._clock = clock

    def find_or_create(self, course: CourseRecord, link: LinkRecord, facts: LaunchFacts) -> str | None:
        if not facts.line_items_url:
            return None
        can_write = LINEITEM_SCOPE in facts.ags_scopes
        if not can_write and LINEITEM_READ_SCOPE not in facts.ags_scopes:
            return None
        endpoint = self.lms.token_endpoint(course, link)
        args = {"resource_link_id": link.resource_link_id, "resource_id": resource_of(link)}
        found = self.client.find(endpoint, facts.line_items_url, **args, can_write=can_write)
        if found or not can_write:
            return found
        token = uuid.uuid4().hex
        if self.courses.claim_line_item(course.course_id, link.link_id, token, self._clock(), CLAIM_STALE_SECONDS):
            try:
                # Looked before the claim; look again after it, in case a racer created and stored it.
                found = self.client.find(endpoint, facts.line_items_url, **args, can_write=True)
                url = found or self.client.create(
                    endpoint, facts.line_items_url, **args, label=column_label(course, link)
                )
            except Exception:
                self.courses.release_line_item_claim(course.course_id, link.link_id, token)
                raise
            self.courses.set_line_item(course.course_id, link.link_id, url)
            logger.info("line item created" if not found else "line item found", extra={"link": link.link_id})
            return url
        for pause in WAIT_FOR_WINNER:
            self._sleep(pause)
            fresh = self.courses.get(course.course_id)
            stored = fresh.links.get(link.link_id) if fresh else None
            if stored is not None and stored.line_item_url and not stored.column_deleted:
                return stored.line_item_url
        return self.client.find(endpoint, facts.line_items_url, **args, can_write=True)

    def recreate(self, course: CourseRecord, link: LinkRecord) -> str:
        """A new column for a link whose column was deleted in the LMS; the caller resyncs the link."""
        if not link.column_deleted or not link.deleted_line_item_url:
            raise ColumnNotRecreated("This link's LMS column is not deleted; nothing to recreate.")
        if not link.line_items_url:
            raise ColumnNotRecreated(
                "The LMS never told Passback where this course's columns are (no AGS line items URL): open the "
                "link once from the LMS, then try again."
            )
        endpoint = self.lms.token_endpoint(course, link)
        token = uuid.uuid4().hex
        if not self.courses.claim_line_item(course.course_id, link.link_id, token, self._clock(), CLAIM_STALE_SECONDS):
            raise ColumnNotRecreated("The column is being recreated already (another click?); reload in a moment.")
        try:
            url = self.client.create(
                endpoint,
                link.line_items_url,
                resource_link_id=link.resource_link_id,
                resource_id=resource_of(link),
                label=column_label(course, link),
            )
        except LmsError as error:
            self.courses.release_line_item_claim(course.course_id, link.link_id, token)
            raise ColumnNotRecreated(
                f"The LMS refused to create the column: {error.message}. The LMS administrator should check the "
                "tool still has the line item scope (docs/lms-setup.md)."
            ) from error
        self.courses.replace_deleted_line_item(
            course.course_id, link.link_id, link.deleted_line_item_url, url, self._clock()
        )
        logger.info("line item recreated", extra={"course": course.course_id, "link": link.link_id})
        return url
