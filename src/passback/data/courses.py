"""Courses, their assigned activities and their links: the course's configuration range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from passback.data.base import due_stamp, set_or_remove
from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import Course, CourseActivity, CourseRoster, GradebookItem, Link
from passback.data.search import COURSES, SearchIndex
from passback.data.tables import ensure_bound
from passback.domain.records import ActivityInCourse, CourseRecord, LinkRecord
from passback.domain.release import ReleasePolicy, automatic_release_time
from passback.domain.search import tokens

CONFIG_RANGE = ("#", "D")  # #META, CA# (activities), CL# (links); before E# and X#


def activity_courses_key(activity_id: str) -> str:
    """gsi1 partition of an activity's course assignments: the courses it is assigned in."""
    return f"A#{activity_id}"


def _activity(item: CourseActivity) -> ActivityInCourse:
    return ActivityInCourse(
        activity_id=item.activity_id,
        idx=int(item.idx),
        title=item.title,
        gau=item.gau,
        gau_applied_at=item.gau_applied_at,
        released_at=item.released_at,
        indexed=item.gsi1pk is not None,
    )


def _link(item: Link) -> LinkRecord:
    return LinkRecord(
        link_id=item.link_id,
        resource_link_id=item.resource_link_id,
        activity_id=item.activity_id,
        lti_version=item.lti_version,
        title=item.title,
        client_id=item.client_id,
        line_item_url=item.line_item_url,
        line_items_url=item.line_items_url,
        deleted_line_item_url=item.deleted_line_item_url,
        line_item_recreated_at=item.line_item_recreated_at,
        label_note=item.label_note,
    )


def course_record(items: list[GradebookItem], default_policy: ReleasePolicy) -> CourseRecord | None:
    course = next((i for i in items if isinstance(i, Course)), None)
    if course is None:
        return None
    return CourseRecord(
        course_id=course.course_id,
        platform_id=course.platform_id,
        platform_key=course.platform_key,
        lti_version=course.lti_version,
        context_id=course.context_id,
        title=course.title,
        label=course.label,
        lms_origin=course.lms_origin,
        release_policy=ReleasePolicy(course.release_policy) if course.release_policy else default_policy,
        release_date=course.release_date,
        activities={i.activity_id: _activity(i) for i in items if isinstance(i, CourseActivity)},
        links={i.link_id: _link(i) for i in items if isinstance(i, Link)},
        lti13_issuer=course.lti13_issuer,
        zero_fill_never_opened=course.zero_fill_never_opened is not False,
        roster_read_since=next((i.reading_since for i in items if isinstance(i, CourseRoster)), None),
    )


def gau_due_key(course_id: str, gau: datetime) -> str:
    """A deadline's sort key in the `due` index (`due_pk = GAU`)."""
    return f"{due_stamp(gau)}#{course_id}"


class CourseRepository:
    def __init__(self, default_policy: ReleasePolicy) -> None:
        ensure_bound()
        self.default_policy = default_policy

    def get(self, course_id: str, *, consistent: bool = False) -> CourseRecord | None:
        """The course, its activities and links: one Query over the configuration range.

        `consistent` when a decision rests on its release state as it is now (sync, before
        recording a status that stops sending).
        """
        low, high = CONFIG_RANGE
        items = list(
            GradebookItem.query(f"C#{course_id}", GradebookItem.sk.between(low, high), consistent_read=consistent)
        )
        return course_record(items, self.default_policy)

    def create_if_absent(
        self,
        *,
        course_id: str,
        platform_id: str,
        platform_key: str,
        lti_version: str,
        context_id: str,
        title: str,
        label: str | None,
        lms_origin: str | None,
        now: datetime,
    ) -> bool:
        """Rule 1: the first launch creates the course. Two racing launches agree (conditional put)."""
        course = Course(
            course_id=course_id,
            platform_id=platform_id,
            platform_key=platform_key,
            lti_version=lti_version,
            context_id=context_id,
            title=title,
            label=label,
            lms_origin=lms_origin,
            created_at=now,
            gsi1pk=f"P#{platform_id}",
            gsi1sk=f"C#{course_id}",
        )
        try:
            course.save(condition=Course.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        SearchIndex().add(COURSES, course_id, tokens(title, label, whole=[context_id]))
        return True

    def set_lti13_issuer(self, course_id: str, issuer: str) -> None:
        """Mark an LTI 1.1 course as launched through LTI 1.3 from this issuer (docs/migration.md)."""
        pk, sk = Course.keys_for(course_id=course_id)
        Course(pk=pk, sk=sk).update(actions=[Course.lti13_issuer.set(issuer)], condition=Course.pk.exists())

    def rename(self, course_id: str, title: str, label: str | None) -> None:
        pk, sk = Course.keys_for(course_id=course_id)
        updated = Course(pk=pk, sk=sk)
        updated.update(
            actions=[Course.title.set(title), set_or_remove(Course.label, label)], condition=Course.pk.exists()
        )
        SearchIndex().add(COURSES, course_id, tokens(title, label, whole=[updated.context_id]))

    def assign_activity(self, course_id: str, activity_id: str, title: str | None, now: datetime) -> bool:
        """Assign an activity to the course, giving it the next short index. False if already assigned."""
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        try:
            CourseActivity.get(pk, sk)
            return False
        except CourseActivity.DoesNotExist:
            pass
        cpk, csk = Course.keys_for(course_id=course_id)
        counter = Course(pk=cpk, sk=csk)
        counter.update(actions=[Course.next_idx.add(1)], condition=Course.pk.exists())
        item = CourseActivity(
            course_id=course_id,
            activity_id=activity_id,
            idx=int(counter.next_idx),
            title=title,
            assigned_at=now,
            gsi1pk=activity_courses_key(activity_id),
            gsi1sk=f"C#{course_id}",
        )
        try:
            item.save(condition=CourseActivity.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def index_activity(self, course_id: str, activity_id: str) -> None:
        """Put an assignment made before the index existed into it (once; the launch that sees it does)."""
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        try:
            CourseActivity(pk=pk, sk=sk).update(
                actions=[
                    CourseActivity.gsi1pk.set(activity_courses_key(activity_id)),
                    CourseActivity.gsi1sk.set(f"C#{course_id}"),
                ],
                condition=CourseActivity.pk.exists() & CourseActivity.gsi1pk.does_not_exist(),
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise

    def upsert_link(self, course_id: str, link: LinkRecord, now: datetime) -> tuple[bool, bool]:
        """Record a link; returns (created, changed). A link's activity or line item can change."""
        pk, sk = Link.keys_for(course_id=course_id, link_id=link.link_id)
        try:
            existing = Link.get(pk, sk, consistent_read=True)
        except Link.DoesNotExist:
            existing = None
        claimed = link.line_item_url
        if existing is not None and claimed and claimed == existing.deleted_line_item_url:
            claimed = None  # the LMS still names the column it deleted; keep the one Passback recreated
        fields: dict[str, Any] = {
            "resource_link_id": link.resource_link_id,
            "activity_id": link.activity_id,
            "title": link.title,
            "lti_version": link.lti_version,
            "client_id": link.client_id or (existing.client_id if existing else None),
            "line_item_url": claimed or (existing.line_item_url if existing else None),
            "line_items_url": link.line_items_url or (existing.line_items_url if existing else None),
            "deleted_line_item_url": existing.deleted_line_item_url if existing else None,
            "line_item_claim": existing.line_item_claim if existing else None,
            "line_item_recreated_at": existing.line_item_recreated_at if existing else None,
        }
        if existing is not None and all(getattr(existing, k) == v for k, v in fields.items()):
            return False, False
        item = Link(
            course_id=course_id,
            link_id=link.link_id,
            created_at=existing.created_at if existing else now,
            **fields,
        )
        try:
            # Created only if absent; changed only if nobody changed it since we read it.
            item.save(condition=Link.pk.does_not_exist() if existing is None else Link.pk.exists())
        except PutError as error:
            if is_conditional_failure(error):
                return False, True  # a concurrent first launch of the same link created it
            raise
        return existing is None, True

    def set_line_item(self, course_id: str, link_id: str, line_item_url: str) -> None:
        pk, sk = Link.keys_for(course_id=course_id, link_id=link_id)
        Link(pk=pk, sk=sk).update(
            actions=[Link.line_item_url.set(line_item_url), Link.line_item_claim.remove()], condition=Link.pk.exists()
        )

    # -- line items Passback manages (services/line_items.py)

    def claim_line_item(self, course_id: str, link_id: str, token: str, now: datetime, stale_seconds: int) -> bool:
        """Become the one launch that creates this link's line item: none known, and no live claim."""
        pk, sk = Link.keys_for(course_id=course_id, link_id=link_id)
        epoch = int(now.timestamp())
        try:
            Link(pk=pk, sk=sk).update(
                actions=[Link.line_item_claim.set(f"{token} {epoch}")],
                condition=Link.pk.exists()
                & (Link.line_item_url.does_not_exist() | (Link.line_item_url == Link.deleted_line_item_url))
                & Link.line_item_claim.does_not_exist(),
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return self._take_stale_claim(pk, sk, token, epoch, epoch - stale_seconds)
        return True

    def _take_stale_claim(self, pk: str, sk: str, token: str, epoch: int, stale_before: int) -> bool:
        try:
            item = Link.get(pk, sk, consistent_read=True)
        except Link.DoesNotExist:
            return False
        held = item.line_item_claim
        if held is None or int(held.rsplit(" ", 1)[-1]) > stale_before:
            return False
        try:
            # A claim older than `stale_seconds` belongs to a launch that died: take it over, once.
            Link(pk=pk, sk=sk).update(
                actions=[Link.line_item_claim.set(f"{token} {epoch}")],
                condition=(Link.line_item_claim == held)
                & (Link.line_item_url.does_not_exist() | (Link.line_item_url == Link.deleted_line_item_url)),
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def release_line_item_claim(self, course_id: str, link_id: str, token: str) -> None:
        pk, sk = Link.keys_for(course_id=course_id, link_id=link_id)
        try:
            Link(pk=pk, sk=sk).update(
                actions=[Link.line_item_claim.remove()], condition=Link.line_item_claim.startswith(f"{token} ")
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise

    def mark_line_item_deleted(self, course_id: str, link_id: str, line_item_url: str) -> bool:
        """The LMS answered 404 for this line item; only if it is still the link's (not recreated since)."""
        pk, sk = Link.keys_for(course_id=course_id, link_id=link_id)
        try:
            Link(pk=pk, sk=sk).update(
                actions=[Link.deleted_line_item_url.set(line_item_url)], condition=Link.line_item_url == line_item_url
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def replace_deleted_line_item(
        self, course_id: str, link_id: str, deleted_url: str, new_url: str, now: datetime
    ) -> bool:
        """The recreated column replaces the deleted one; False if someone recreated it first."""
        pk, sk = Link.keys_for(course_id=course_id, link_id=link_id)
        try:
            Link(pk=pk, sk=sk).update(
                actions=[
                    Link.line_item_url.set(new_url),
                    Link.line_item_claim.remove(),
                    Link.line_item_recreated_at.set(now),
                ],
                condition=Link.line_item_url == deleted_url,
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def set_gau(
        self, course_id: str, activity_id: str, gau: datetime | None, *, expected: datetime | object | None = ...
    ) -> bool:
        """Set or clear a deadline. False if a sweep already applied the current one (it cannot move), or
        if the deadline is no longer `expected` (what the caller read: another change, perhaps a past
        deadline, came in between; review 18)."""
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        condition = CourseActivity.pk.exists() & CourseActivity.gau_applied_at.does_not_exist()
        if expected is None:
            condition = condition & CourseActivity.gau.does_not_exist()
        elif isinstance(expected, datetime):
            condition = condition & (CourseActivity.gau == expected)
        try:
            CourseActivity(pk=pk, sk=sk).update(
                actions=[
                    set_or_remove(CourseActivity.gau, gau),
                    set_or_remove(CourseActivity.due_pk, "GAU" if gau is not None else None),
                    set_or_remove(CourseActivity.due_sk, gau_due_key(course_id, gau) if gau is not None else None),
                ],
                condition=condition,
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def extend_gau(self, course_id: str, activity_id: str, old: datetime, new: datetime) -> bool:
        """Move a passed deadline later (the explicit extension): it is due again at the new time and
        no longer applied. Conditional on the deadline still being `old`; False if it changed."""
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        try:
            CourseActivity(pk=pk, sk=sk).update(
                actions=[
                    CourseActivity.gau.set(new),
                    CourseActivity.gau_applied_at.remove(),
                    CourseActivity.due_pk.set("GAU"),
                    CourseActivity.due_sk.set(gau_due_key(course_id, new)),
                ],
                condition=CourseActivity.pk.exists() & (CourseActivity.gau == old),
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def mark_gau_applied(self, course_id: str, activity_id: str, due_sk: str, now: datetime) -> bool:
        """Claim the deadline sweep for one activity (False if another sweep claimed it).

        `due_sk` is the index entry the sweep found: if the deadline moved since, it is not claimed.
        """
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        try:
            CourseActivity(pk=pk, sk=sk).update(
                actions=[
                    CourseActivity.gau_applied_at.set(now),
                    CourseActivity.due_pk.remove(),
                    CourseActivity.due_sk.remove(),
                ],
                condition=CourseActivity.gau_applied_at.does_not_exist() & (CourseActivity.due_sk == due_sk),
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def mark_released(self, course_id: str, activity_id: str, now: datetime) -> bool:
        """The instructor's Release Grades. False if it was already released by hand."""
        pk, sk = CourseActivity.keys_for(course_id=course_id, activity_id=activity_id)
        try:
            CourseActivity(pk=pk, sk=sk).update(
                actions=[CourseActivity.released_at.set(now)],
                condition=CourseActivity.released_at.does_not_exist() & CourseActivity.pk.exists(),
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def set_policy(self, course_id: str, policy: ReleasePolicy, release_date: datetime | None) -> None:
        pk, sk = Course.keys_for(course_id=course_id)
        due = automatic_release_time(policy, release_date=release_date, gau=None)
        Course(pk=pk, sk=sk).update(
            actions=[
                Course.release_policy.set(policy.value),
                set_or_remove(Course.release_date, release_date),
                set_or_remove(Course.due_pk, "RELEASE" if due is not None else None),
                set_or_remove(Course.due_sk, f"{due_stamp(due)}#{course_id}" if due is not None else None),
            ],
            condition=Course.pk.exists(),
        )

    def set_zero_fill(self, course_id: str, never_opened: bool) -> bool:
        """Whether deadline zeros reach learners who never opened Passback; False when it already was so."""
        pk, sk = Course.keys_for(course_id=course_id)
        # Stored only when off (False); absent reads as on, the default.
        stored = Course.zero_fill_never_opened
        was_other = stored.exists() if never_opened else stored.does_not_exist()
        try:
            Course(pk=pk, sk=sk).update(
                actions=[set_or_remove(Course.zero_fill_never_opened, None if never_opened else False)],
                condition=Course.pk.exists() & was_other,
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def clear_release_due(self, course_id: str, due_sk: str) -> bool:
        """Take a dated release off the schedule; False if it changed since the sweep saw it."""
        pk, sk = Course.keys_for(course_id=course_id)
        try:
            Course(pk=pk, sk=sk).update(
                actions=[Course.due_pk.remove(), Course.due_sk.remove()], condition=Course.due_sk == due_sk
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def list_for_platform(self, platform_id: str) -> list[str]:
        return [
            str(item.gsi1sk)[2:]
            for item in GradebookItem.inverted.query(f"P#{platform_id}", GradebookItem.gsi1sk.startswith("C#"))
        ]

    def due(self, due_pk: str, now: datetime, limit: int) -> list[tuple[str, str, str]]:
        """(pk, sk, due_sk) of items whose `due_pk` work is due at `now`, oldest first, at most `limit`."""
        found: list[tuple[str, str, str]] = []
        for item in GradebookItem.due.query(due_pk, GradebookItem.due_sk <= f"{due_stamp(now)}#~", limit=limit):
            found.append((item.pk, item.sk, str(item.due_sk)))
            if len(found) >= limit:
                break
        return found
