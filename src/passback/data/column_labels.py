"""What a rename of an activity needs: the courses it is assigned in, their copy of its title, the note
on a link whose LMS column kept the old label, and a platform's refusal of label changes (PUT)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from passback.data.base import set_or_remove
from passback.data.config_models import Platform
from passback.data.courses import activity_courses_key
from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import CourseActivity, Link
from passback.data.tables import ensure_bound

PAGE = 100


@dataclass(frozen=True)
class PutRefusal:
    text: str  # "HTTP 405: <the LMS's message>"
    at: datetime


class ColumnLabelRepository:
    def __init__(self) -> None:
        ensure_bound()

    def courses_with_activity(self, activity_id: str) -> Iterator[str]:
        """The courses the activity is assigned in: a Query on gsi1 (keys only), page by page."""
        found = CourseActivity.inverted.query(activity_courses_key(activity_id), page_size=PAGE)
        for item in found:
            yield str(item.pk)[2:]

    def set_activity_title(self, course_id: str, activity_id: str, title: str) -> bool:
        """The course's copy of the activity's title (the gradebook's column); False when it already was."""
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        try:
            CourseActivity(pk=pk, sk=sk).update(
                actions=[CourseActivity.title.set(title)],
                condition=CourseActivity.pk.exists() & (CourseActivity.title != title),
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def set_label_note(self, course_id: str, link_id: str, note: str | None) -> None:
        pk, sk = Link.keys_for(course_id=course_id, link_id=link_id)
        try:
            Link(pk=pk, sk=sk).update(actions=[set_or_remove(Link.label_note, note)], condition=Link.pk.exists())
        except Exception as error:
            if not is_conditional_failure(error):
                raise

    # -- a platform that does not take label changes

    def put_refusal(self, issuer: str, client_id: str) -> PutRefusal | None:
        pk, sk = Platform.keys_for(issuer=issuer, client_id=client_id)
        try:
            item = Platform.get(pk, sk, consistent_read=True)
        except Platform.DoesNotExist:
            return None
        if item.line_item_put_refused is None or item.line_item_put_refused_at is None:
            return None
        return PutRefusal(item.line_item_put_refused, item.line_item_put_refused_at)

    def record_put_refusal(self, issuer: str, client_id: str, text: str, now: datetime) -> bool:
        """Record the refusal; False if a racing job recorded one at or after `now` already."""
        pk, sk = Platform.keys_for(issuer=issuer, client_id=client_id)
        try:
            Platform(pk=pk, sk=sk).update(
                actions=[
                    Platform.line_item_put_refused.set(text[:500]),
                    Platform.line_item_put_refused_at.set(now),
                ],
                condition=Platform.pk.exists()
                & (Platform.line_item_put_refused_at.does_not_exist() | (Platform.line_item_put_refused_at < now)),
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def clear_put_refusal(self, issuer: str, client_id: str) -> None:
        """The platform took a PUT after all (a probe a month later, say): label changes go through again."""
        pk, sk = Platform.keys_for(issuer=issuer, client_id=client_id)
        try:
            Platform(pk=pk, sk=sk).update(
                actions=[Platform.line_item_put_refused.remove(), Platform.line_item_put_refused_at.remove()],
                condition=Platform.line_item_put_refused.exists(),
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
