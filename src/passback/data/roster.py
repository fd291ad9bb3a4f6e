"""The course roster's bookkeeping: where to read it (NRPS) and when the schedule reads it next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from passback.data.base import due_stamp, set_or_remove
from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import CourseRoster
from passback.data.tables import ensure_bound

DUE_PK = "ROSTER"


@dataclass(frozen=True)
class RosterSource:
    course_id: str
    memberships_url: str
    client_id: str | None


class RosterRepository:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, course_id: str) -> RosterSource | None:
        pk, sk = CourseRoster.keys_for(course_id=course_id)
        try:
            item = CourseRoster.get(pk, sk)
        except CourseRoster.DoesNotExist:
            return None
        return RosterSource(item.course_id, item.memberships_url, item.client_id)

    def remember(
        self, course_id: str, memberships_url: str, client_id: str | None, now: datetime, first_read_in: timedelta
    ) -> bool:
        """Record the course's memberships URL; True only the first time (the caller queues the first read).

        A GetItem first, so an instructor's every later launch costs no write.
        """
        known = self.get(course_id)
        if known is not None and (known.memberships_url, known.client_id) == (memberships_url, client_id):
            return False
        item = CourseRoster(
            course_id=course_id,
            memberships_url=memberships_url,
            client_id=client_id,
            created_at=now,
            due_pk=DUE_PK,
            due_sk=f"{due_stamp(now + first_read_in)}#{course_id}",
        )
        if known is not None:
            pk, sk = CourseRoster.keys_for(course_id=course_id)
            CourseRoster(pk=pk, sk=sk).update(
                actions=[
                    CourseRoster.memberships_url.set(memberships_url),
                    set_or_remove(CourseRoster.client_id, client_id),
                ]
            )
            return False
        try:
            item.save(condition=CourseRoster.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False  # a racing instructor launch recorded it first
            raise
        return True

    def start_read(self, course_id: str, now: datetime) -> None:
        """A read is in progress from `now`: launches meanwhile leave their time on the enrollment."""
        pk, sk = CourseRoster.keys_for(course_id=course_id)
        CourseRoster(pk=pk, sk=sk).update(
            actions=[CourseRoster.reading_since.set(now)], condition=CourseRoster.pk.exists()
        )

    def end_read(self, course_id: str, started: datetime) -> None:
        """The read is over (only the one that started at `started`: a later read may be running)."""
        pk, sk = CourseRoster.keys_for(course_id=course_id)
        try:
            CourseRoster(pk=pk, sk=sk).update(
                actions=[CourseRoster.reading_since.remove()], condition=CourseRoster.reading_since == started
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise

    def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """Courses whose scheduled roster read is due: (course id, the due_sk seen)."""
        found = CourseRoster.due.query(
            DUE_PK, CourseRoster.due_sk <= f"{due_stamp(now)}#~", limit=limit, page_size=limit
        )
        return [(str(item.pk)[2:], str(item.due_sk)) for item in found]

    def reschedule(self, course_id: str, seen_due_sk: str, at: datetime) -> bool:
        """Move the next read to `at`, only if nobody did since `seen_due_sk` was read (one queue per due)."""
        pk, sk = CourseRoster.keys_for(course_id=course_id)
        try:
            CourseRoster(pk=pk, sk=sk).update(
                actions=[CourseRoster.due_sk.set(f"{due_stamp(at)}#{course_id}")],
                condition=CourseRoster.due_sk == seen_due_sk,
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True
