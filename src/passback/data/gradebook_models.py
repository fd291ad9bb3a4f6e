"""The gradebook table: courses, links, learners, enrollments, progress and sync cells.

A course's partition (`C#<course id>`) holds everything its gradebook page shows, so the page
is one paginated Query. Sort keys are ordered so the course's configuration is one contiguous
range read by every sync: `#META` (the course), `CA#` (its activities), `CL#` (its links), then
`E#` (enrollments, with each learner's course grades) and `X#` (sync cells).

A learner's partition (`U#<learner id>`) holds their progress per activity, which belongs to
them and not to any course (rule 3).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection

from passback.data.base import TableItem


class InvertedIndex(GlobalSecondaryIndex["GradebookItem"]):
    """gsi1: a learner's courses (from enrollments) and a platform's courses (from courses)."""

    class Meta:
        index_name = "gsi1"
        # Keys and the discriminator: PynamoDB filters polymorphic queries on `kind`.
        projection = IncludeProjection(["kind"])

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex["GradebookItem"]):
    """due: a sparse index of work that falls due at a time (retries, deadlines, release dates).

    Only items with something pending carry `due_pk`/`due_sk`; the sweep queries each due
    partition for `due_sk <= now`, never scanning.
    """

    class Meta:
        index_name = "due"
        projection = IncludeProjection(["kind"])

    due_pk = UnicodeAttribute(hash_key=True)
    due_sk = UnicodeAttribute(range_key=True)


class GradebookItem(TableItem):
    kind = DiscriminatorAttribute()

    class Meta:
        table_name = "passback-gradebook"

    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    due_pk = UnicodeAttribute(null=True)
    due_sk = UnicodeAttribute(null=True)
    inverted = InvertedIndex()
    due = DueIndex()


class Course(GradebookItem, discriminator="course"):
    """The tool's side of one LMS course (rule 1: created by the first launch from it)."""

    course_id = UnicodeAttribute()
    platform_id = UnicodeAttribute()
    platform_key = UnicodeAttribute()
    lti_version = UnicodeAttribute()
    context_id = UnicodeAttribute()
    title = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    lms_origin = UnicodeAttribute(null=True)
    release_policy = UnicodeAttribute(null=True)
    release_date = UTCDateTimeAttribute(null=True)
    next_idx = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    # Set when an LTI 1.1 course is first launched through LTI 1.3 (docs/migration.md).
    lti13_issuer = UnicodeAttribute(null=True)
    # False: deadline zeros are not sent for learners who never opened Passback (rule 13); absent: they are.
    zero_fill_never_opened = BooleanAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", "#META"


class CourseActivity(GradebookItem, discriminator="course_activity"):
    """An activity assigned in a course: its short index, deadline (GAU) and release state."""

    course_id = UnicodeAttribute()
    activity_id = UnicodeAttribute()
    idx = NumberAttribute()
    title = UnicodeAttribute(null=True)
    gau = UTCDateTimeAttribute(null=True)
    gau_applied_at = UTCDateTimeAttribute(null=True)
    released_at = UTCDateTimeAttribute(null=True)
    assigned_at = UTCDateTimeAttribute()
    # gsi1 `A#<activity>` / `C#<course>`: the courses an activity is assigned in (a rename relabels
    # their LMS columns, services/column_labels.py).

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", f"CA#{kw['activity_id']}"


class Link(GradebookItem, discriminator="link"):
    """One LMS resource link: an activity link (names an activity) or a homepage link (names none)."""

    course_id = UnicodeAttribute()
    link_id = UnicodeAttribute()
    resource_link_id = UnicodeAttribute()
    activity_id = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    lti_version = UnicodeAttribute()
    client_id = UnicodeAttribute(null=True)
    line_item_url = UnicodeAttribute(null=True)
    line_items_url = UnicodeAttribute(null=True)
    ags_scopes = UnicodeSetAttribute(null=True)
    # The line item URL the LMS answered 404 for (its column was deleted); equal to line_item_url
    # until the column is recreated.
    deleted_line_item_url = UnicodeAttribute(null=True)
    # When Passback recreated the column: a grade "synced" before then went to the deleted one.
    line_item_recreated_at = UTCDateTimeAttribute(null=True)
    # "<token> <epoch>": a launch creating this link's line item (so two racing launches make one).
    line_item_claim = UnicodeAttribute(null=True)
    # Why the LMS column does not carry the activity's current title (the LMS refused the label PUT);
    # absent when it does or Passback never tried (services/column_labels.py).
    label_note = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", f"CL#{kw['link_id']}"


class CourseRoster(GradebookItem, discriminator="course_roster"):
    """Where the course's roster (NRPS) is read from, and when the schedule reads it next.

    Written on the first instructor launch that carries the NRPS claim (and when its URL changes);
    the schedule moves `due_sk` a day ahead when it queues a read. Nothing per member lives here.
    """

    course_id = UnicodeAttribute()
    memberships_url = UnicodeAttribute()
    client_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # While a read is in progress: when it started (launches meanwhile leave their time on the enrollment).
    reading_since = UTCDateTimeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", "#ROSTER"


class Enrollment(GradebookItem, discriminator="enrollment"):
    """A learner in a course (rule 2), with their grade for each assigned activity.

    `grades` maps a course activity's short index to [value or null, answered, progress
    version, zero flag]: the course grade (rules 6 and 7) derived from the learner's progress,
    kept here so the gradebook and the homepage composite never re-read every activity.
    """

    course_id = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    role = UnicodeAttribute()
    lms_user_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    grades = MapAttribute[str, Any](default=dict)  # type: ignore[arg-type]
    merge_pending = BooleanAttribute(default=False)
    enrolled_at = UTCDateTimeAttribute()
    lti13_user_id = UnicodeAttribute(null=True)
    version = VersionAttribute()
    # The roster's word (NRPS status: Active, Inactive, Deleted when gone from it); absent: never read.
    lms_status = UnicodeAttribute(null=True)
    # False while a learner the roster brought in has not opened any link; absent once they have.
    launched = BooleanAttribute(null=True)
    # A launch while the course roster was being read (only then): the read's "inactive" is older than it.
    launched_at = UTCDateTimeAttribute(null=True)
    # The send protocol: per link id, [claim id, lease end (epoch s), reserved AGS timestamp] of the
    # last claim on that cell (docs/architecture.md, "A cell's states"); absent until the first.
    claims = MapAttribute[str, Any](null=True)  # type: ignore[arg-type]

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", f"E#{kw['learner_id']}"


class Cell(GradebookItem, discriminator="cell"):
    """The sync cell for one learner and one link: what the LMS has, and why not if it does not.

    `history` keeps the most recent attempts (when, value, what the LMS answered); every
    attempt is also a structured log line, so the full record survives the trim.
    """

    course_id = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    link_id = UnicodeAttribute()
    status = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    owed_value = NumberAttribute(null=True)
    sent_value = NumberAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    sent_ts = NumberAttribute(null=True)
    failed_value = NumberAttribute(null=True)
    attempts = NumberAttribute(default=0)
    first_failure_at = UTCDateTimeAttribute(null=True)
    next_attempt_at = UTCDateTimeAttribute(null=True)
    sourcedid = UnicodeAttribute(null=True)
    outcome_service_url = UnicodeAttribute(null=True)
    history = ListAttribute[Any](default=list)  # type: ignore[arg-type]
    updated_at = UTCDateTimeAttribute(null=True)
    # The last claim (kept on the enrollment) whose holder recorded here: it is released.
    done_claim = UnicodeAttribute(null=True)
    # A sender found claim `mark_for` live and left this mark; the lease it waits on ends at `mark_until`.
    mark_for = UnicodeAttribute(null=True)
    mark_until = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"C#{kw['course_id']}", f"X#{kw['learner_id']}#{kw['link_id']}"


class Learner(GradebookItem, discriminator="learner"):
    """A person: one product account, any number of LMS identities."""

    learner_id = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    merged_into = UnicodeAttribute(null=True)
    # A provisional learner's open merge request: launches into new courses mark those enrollments pending too.
    pending_merge = UnicodeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"U#{kw['learner_id']}", "#META"


class Progress(GradebookItem, discriminator="progress"):
    """A learner's progress on one activity (rule 3): the timeline of their reports.

    `timeline` holds the distinct reports, oldest first (occurred microseconds, message tag, score,
    answered), packed as data/progress.py describes; `floor` is [microseconds, tag, score, max
    answered] of the reports folded away past the history bound (docs/data-model.md). `latest_*`
    and `max_answered` repeat the whole timeline's tally for people reading the table. An item
    written before the timeline (`timeline` absent) has `cuts` {course: tally at its GAU} instead:
    it is read as a timeline of those tallies and rewritten in the new shape by its next change.
    """

    learner_id = UnicodeAttribute()
    activity_id = UnicodeAttribute()
    latest_us = NumberAttribute(null=True)
    latest_mid = UnicodeAttribute(null=True)
    latest_score = NumberAttribute(null=True)
    max_answered = NumberAttribute(default=0)
    timeline = BinaryAttribute(null=True, legacy_encoding=False)
    floor = ListAttribute[Any](null=True)  # type: ignore[arg-type]
    cuts = MapAttribute[str, Any](null=True)  # type: ignore[arg-type]
    updated_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"U#{kw['learner_id']}", f"P#{kw['activity_id']}"


class Identity(GradebookItem, discriminator="identity"):
    """An LMS identity (1.3: issuer + sub; 1.1: consumer key + user_id) and the learner it is."""

    platform_id = UnicodeAttribute()
    lms_user_id = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"I#{kw['platform_id']}#{kw['lms_user_id']}", "#"


class LearnerEmail(GradebookItem, discriminator="learner_email"):
    """The learner who owns an email address (for the account merge of rule 12).

    Only a product vouches for an address (an email-form score message); `product_id` is the one
    that did through the API (None: through the score queue). An LMS launch never claims one.
    """

    email = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    product_id = UnicodeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"M#{kw['email']}", "#"


class MergeRequest(GradebookItem, discriminator="merge_request"):
    """A "Confirm your request to merge accounts" (rule 12): single use, expiring.

    The link's token is never stored (it is an HMAC over the request id and expiry). `status`
    moves from pending exactly once, by a conditional write: that is what makes the link single
    use. Every request is in gsi1 under `MERGES` (support's list, newest last) and, while pending,
    in the `due` index under `MERGE` at its expiry (the sweep expires it).
    """

    request_id = UnicodeAttribute()
    email = UnicodeAttribute()
    existing_learner_id = UnicodeAttribute()
    provisional_learner_id = UnicodeAttribute()
    platform_id = UnicodeAttribute()
    lms_user_id = UnicodeAttribute()
    course_id = UnicodeAttribute(null=True)
    course_title = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    decided_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    expires = TTLAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"MERGE#{kw['request_id']}", "#"


GRADEBOOK_MODELS: tuple[type[GradebookItem], ...] = (
    Course,
    CourseActivity,
    Link,
    Enrollment,
    Cell,
    Learner,
    Progress,
    Identity,
    LearnerEmail,
    MergeRequest,
)


class SearchEntry(GradebookItem, discriminator="search"):
    """One token of what finds a course or a learner (`passback courses find`, `learners find`).

    Partitioned by the token's first two letters so a prefix search is one Query; `tokens` holds
    all of the target's tokens so several words are matched without reading the target.
    """

    target_id = UnicodeAttribute()
    tokens = UnicodeSetAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        token = str(kw["token"])
        return f"FIND#{kw['scope']}#{token[:2]}", f"{token}#{kw['target_id']}"


GRADEBOOK_MODELS = (*GRADEBOOK_MODELS, SearchEntry)
