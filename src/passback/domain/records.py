"""Plain records of the gradebook's aggregates, as the repositories hand them to services."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from passback.domain.grading import CourseGrade
from passback.domain.progress import micros
from passback.domain.release import ReleasePolicy, nothing_leaves_before_release


@dataclass(frozen=True)
class ActivityInCourse:
    activity_id: str
    idx: int
    title: str | None = None
    gau: datetime | None = None
    gau_applied_at: datetime | None = None
    released_at: datetime | None = None
    # False for an assignment made before the activity-to-courses index existed (launch adds it).
    indexed: bool = True


@dataclass(frozen=True)
class LinkRecord:
    link_id: str
    resource_link_id: str
    activity_id: str | None
    lti_version: str
    title: str | None = None
    client_id: str | None = None
    line_item_url: str | None = None
    line_items_url: str | None = None
    deleted_line_item_url: str | None = None
    line_item_recreated_at: datetime | None = None
    # Why the LMS column's label is not the activity's title (the LMS refused the PUT), if it is not.
    label_note: str | None = None

    @property
    def is_homepage(self) -> bool:
        return self.activity_id is None

    def sent_to_old_column(self, sent_at: datetime | None) -> bool:
        """A grade sent before the column was recreated lives in the deleted column only: send it again."""
        return self.line_item_recreated_at is not None and (sent_at is None or sent_at < self.line_item_recreated_at)

    @property
    def column_deleted(self) -> bool:
        """The LMS answered 404 for this link's line item, and it was not recreated since."""
        return self.deleted_line_item_url is not None and self.deleted_line_item_url == self.line_item_url


@dataclass(frozen=True)
class CourseRecord:
    course_id: str
    platform_id: str
    platform_key: str
    lti_version: str
    context_id: str
    title: str
    release_policy: ReleasePolicy
    release_date: datetime | None = None
    lms_origin: str | None = None
    label: str | None = None
    activities: Mapping[str, ActivityInCourse] = field(default_factory=dict)
    links: Mapping[str, LinkRecord] = field(default_factory=dict)
    # An LTI 1.1 course now launched through LTI 1.3 from this issuer (docs/migration.md).
    lti13_issuer: str | None = None
    # Deadline zeros reach learners who never opened Passback (rule 13); a course setting turns it off.
    zero_fill_never_opened: bool = True
    # When the course roster read in progress started (None: none is).
    roster_read_since: datetime | None = None

    def released(self, activity_id: str, now: datetime) -> bool:
        activity = self.activities.get(activity_id)
        if activity is None:
            return False
        return nothing_leaves_before_release(
            self.release_policy,
            released_by_hand_at=activity.released_at,
            release_date=self.release_date,
            gau=activity.gau,
            now=now,
        )

    def links_for_activity(self, activity_id: str) -> list[LinkRecord]:
        return [link for link in self.links.values() if link.activity_id == activity_id]

    def homepage_links(self) -> list[LinkRecord]:
        return [link for link in self.links.values() if link.is_homepage]

    def activity_by_idx(self, idx: int) -> ActivityInCourse | None:
        for activity in self.activities.values():
            if activity.idx == idx:
                return activity
        return None


@dataclass(frozen=True)
class GradeEntry:
    """One course grade as stored on the enrollment, with what it was computed from: the progress
    version and the deadline (`deadline`: the GAU in microseconds, 0 for none; None on entries
    written before the stamp existed)."""

    value: float | None
    answered: int
    progress_version: int
    zero: bool = False
    deadline: int | None = None

    @classmethod
    def of(cls, grade: CourseGrade, progress_version: int, gau: datetime | None = None) -> GradeEntry:
        return cls(
            value=grade.value,
            answered=grade.answered,
            progress_version=progress_version,
            zero=grade.zero,
            deadline=deadline_stamp(gau),
        )

    def to_list(self) -> list[Any]:
        return [self.value, self.answered, self.progress_version, 1 if self.zero else 0, self.deadline]

    @classmethod
    def from_list(cls, raw: Any) -> GradeEntry:
        value, answered, version, zero, deadline = [*list(raw), None, None, None, None, None][:5]
        return cls(
            value=None if value is None else float(value),
            answered=int(answered or 0),
            progress_version=int(version or 0),
            zero=bool(zero),
            deadline=None if deadline is None else int(deadline),
        )


def deadline_stamp(gau: datetime | None) -> int:
    """The deadline a grade was computed under, as stored on its entry (0: no deadline)."""
    return 0 if gau is None else micros(gau)


@dataclass(frozen=True)
class ClaimEntry:
    """A sender's claim on one cell, kept on the enrollment (docs/architecture.md, "A cell's states").

    `ts` is the AGS timestamp it reserved (whole seconds). The claim is released when the cell
    records `done_claim` = `claim_id`, and ends anyway at `until` (its lease).
    """

    claim_id: str
    until: datetime
    ts: int

    def to_list(self) -> list[Any]:
        return [self.claim_id, math.ceil(self.until.timestamp()), self.ts]

    @classmethod
    def from_list(cls, raw: Any) -> ClaimEntry:
        claim_id, until, ts = list(raw)[:3]
        return cls(claim_id=str(claim_id), until=datetime.fromtimestamp(int(until), UTC), ts=int(ts))


@dataclass(frozen=True)
class EnrollmentRecord:
    course_id: str
    learner_id: str
    role: str
    lms_user_id: str | None = None
    name: str | None = None
    email: str | None = None
    grades: Mapping[int, GradeEntry] = field(default_factory=dict)
    merge_pending: bool = False
    version: int | None = None
    # In a course migrated from LTI 1.1: the learner's LTI 1.3 `sub`, once a 1.3 launch showed it.
    lti13_user_id: str | None = None
    # From the course roster (NRPS): "Active", "Inactive", "Deleted" (gone from it); None: never read.
    lms_status: str | None = None
    # False for a learner the roster brought in who never opened a link of the course; None: launched.
    launched: bool | None = None
    # The send protocol: per link, the last claim taken on its cell (kept after release: its
    # timestamp is the floor of the next claim's).
    claims: Mapping[str, ClaimEntry] = field(default_factory=dict)

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"

    @property
    def in_course(self) -> bool:
        """False when the roster says the learner is inactive or no longer in the course."""
        return self.lms_status not in ("Inactive", "Deleted")

    @property
    def never_opened(self) -> bool:
        return self.launched is False


@dataclass(frozen=True)
class Attempt:
    at: datetime
    value: float
    outcome: str
    status: int | None
    message: str

    def to_list(self) -> list[Any]:
        return [self.at.isoformat(), self.value, self.outcome, self.status, self.message[:200]]

    @classmethod
    def from_list(cls, raw: Any) -> Attempt:
        at, value, outcome, status, message = [*list(raw), None, None, None, None, None][:5]
        return cls(
            at=datetime.fromisoformat(str(at)),
            value=float(value or 0),
            outcome=str(outcome or ""),
            status=None if status is None else int(status),
            message=str(message or ""),
        )


@dataclass(frozen=True)
class CellRecord:
    course_id: str
    learner_id: str
    link_id: str
    status: str | None = None
    message: str | None = None
    owed_value: float | None = None
    sent_value: float | None = None
    sent_at: datetime | None = None
    sent_ts: int | None = None
    failed_value: float | None = None
    attempts: int = 0
    first_failure_at: datetime | None = None
    next_attempt_at: datetime | None = None
    sourcedid: str | None = None
    outcome_service_url: str | None = None
    history: tuple[Attempt, ...] = ()
    updated_at: datetime | None = None
    version: int | None = None
    # The send protocol (docs/architecture.md, "A cell's states"): the last claim whose holder
    # recorded its answer here (so the claim on the enrollment is released), and a mark left by a
    # sender who found claim `mark_for` live, so its holder decides again; `mark_until` is when
    # that claim's lease ends (the cell is on `due` then, should the holder have died).
    done_claim: str | None = None
    mark_for: str | None = None
    mark_until: datetime | None = None

    @property
    def dirty(self) -> bool:
        return self.mark_for is not None
