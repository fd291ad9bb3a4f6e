"""Rules 10 and 11, and the sync decision: what one cell owes and whether to send it now."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class CellStatus(StrEnum):
    SYNCED = "synced"
    NOT_RELEASED = "not released"
    BELOW_THRESHOLD = "below threshold"
    NO_TARGET = "no target"
    LMS_ERROR = "LMS error"
    USER_NOT_IN_COURSE = "user not in course"
    LMS_NEWER = "LMS has newer"
    RETRYING = "retrying"
    GAVE_UP = "gave up"
    MERGE_PENDING = "merge pending"
    # The link's LMS column (AGS line item) was deleted in the LMS: recreate it from the gradebook.
    COLUMN_DELETED = "LMS column deleted"
    # A deadline zero of a learner who never opened Passback, in a course that does not send those.
    NO_ZERO_FILL = "no zero sent"


class FailureKind(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    USER_NOT_IN_COURSE = "user not in course"
    LMS_NEWER = "LMS has newer"
    COLUMN_DELETED = "column deleted"


COLUMN_DELETED_EXPLANATION = (
    "The LMS column of this link was deleted in the LMS (it answered 404 for its line item). Nothing is sent to it "
    "and nothing is retried: use Recreate column in the gradebook, and every grade owed goes to the new column."
)
NOT_IN_COURSE_BY_ROSTER = (
    "The course roster in the LMS lists this learner as inactive or no longer in the course (dropped, or the "
    "enrollment ended), so Passback sends nothing for them. If they come back, the next roster sync sends "
    "what is owed."
)


def lms_blocks(*, column_deleted: bool, in_course: bool) -> CellStatus | None:
    """What stops a cell before any POST: its column was deleted, or the roster says the learner left.

    Both are facts Passback learned from the LMS; sending anyway would only collect a 404 or a 422.
    """
    if column_deleted:
        return CellStatus.COLUMN_DELETED
    if not in_course:
        return CellStatus.USER_NOT_IN_COURSE
    return None


USER_NOT_IN_COURSE_EXPLANATION = (
    "The LMS does not know this user in this course: either the student dropped the course, or their "
    "LMS account is not yet linked to their account here (a pending 'Confirm your request to merge "
    "accounts' email). Not retried automatically: once the student is enrolled or has confirmed the "
    "merge, use resync."
)
LMS_NEWER_EXPLANATION = (
    "The LMS already holds a newer score for this student (entered in the LMS itself, or by another "
    "tool), so it refused this one. Not retried automatically; resync to send it again."
)

_NOT_IN_COURSE = re.compile(
    r"\b(user|student|learner)\b[^.]{0,40}?\b(not|no longer)\s+(currently\s+)?"
    r"((enrolled|found|registered|present|a member|part)\s+)?(in|of)\s+(the\s+|this\s+)?(course|context|section|class)"
    r"|\bnot (currently )?enrolled\b|\bno such (user|student)\b|user_not_in_course",
    re.IGNORECASE,
)


def user_is_not_in_course(lms_message: str) -> bool:
    """Rule 11: recognise the LMS's many ways of saying it does not know this user here."""
    return bool(_NOT_IN_COURSE.search(lms_message or ""))


def classify_lms_failure(status: int | None, message: str, *, timestamp_conflict: bool = False) -> FailureKind:
    """Rule 10: timeouts, connection errors, 5xx and 429 are retried; other 4xx are not.

    `status` None means no answer at all (timeout, connection refused).
    """
    if status is None or status >= 500 or status in (408, 429):
        return FailureKind.RETRYABLE
    if user_is_not_in_course(message):
        return FailureKind.USER_NOT_IN_COURSE
    if timestamp_conflict:
        return FailureKind.LMS_NEWER
    return FailureKind.PERMANENT


def next_score_timestamp(last_sent_epoch: int | None, now: datetime) -> int:
    """AGS timestamps strictly increase per line item and user at whole seconds.

    Canvas refuses an older timestamp and Moodle one that is not later at one-second
    granularity, so two changes within one second get consecutive seconds.
    """
    candidate = int(now.timestamp())
    if last_sent_epoch is not None and candidate <= last_sent_epoch:
        return last_sent_epoch + 1
    return candidate


def claim_is_live(claim_id: str | None, claim_until: datetime | None, done_claim: str | None, now: datetime) -> bool:
    """A cell's claim (on the enrollment) holds until its holder records `done_claim` on the cell
    or its lease ends; after that any sender may take the cell over."""
    return claim_id is not None and claim_id != done_claim and claim_until is not None and claim_until > now


def claim_timestamp(cell_sent_ts: int | None, last_claim_ts: int | None, now: datetime) -> int:
    """The AGS timestamp a new claim reserves: after the cell's last and after the last claim's.

    The last claim may have reserved a second it never recorded on the cell (its holder died
    mid-send, maybe after its POST): that second is never used again.
    """
    floors = [ts for ts in (cell_sent_ts, last_claim_ts) if ts is not None]
    return next_score_timestamp(max(floors) if floors else None, now)


def stops_sending(status: CellStatus | None) -> bool:
    """Statuses that say "nothing to send": recorded only on the release state read at write time."""
    return status in (
        CellStatus.NOT_RELEASED,
        CellStatus.BELOW_THRESHOLD,
        CellStatus.MERGE_PENDING,
        CellStatus.NO_ZERO_FILL,
    )


@dataclass(frozen=True)
class RetryPlan:
    base_seconds: float = 30.0
    cap_seconds: float = 900.0
    horizon_seconds: float = 3600.0


def lms_errors_are_retried(
    *,
    first_failure: datetime,
    attempts: int,
    now: datetime,
    jitter: float,
    retry_after_seconds: float | None = None,
    plan: RetryPlan | None = None,
) -> datetime | None:
    """Rule 10: when to try again after `attempts` failures, or None to give up.

    Exponential backoff with jitter (`jitter` in [0, 1), drawn by the caller), honouring a
    Retry-After, and never past one hour after the first failure: the last try lands exactly
    at the horizon, after that the cell waits for a resync.
    """
    plan = plan or RetryPlan()
    deadline = first_failure + timedelta(seconds=plan.horizon_seconds)
    if now >= deadline:
        return None
    backoff = min(plan.cap_seconds, plan.base_seconds * (2 ** max(0, attempts - 1)))
    delay = backoff * (0.5 + 0.5 * jitter)
    if retry_after_seconds is not None:
        delay = max(delay, retry_after_seconds)
    return min(now + timedelta(seconds=delay), deadline)


# How long a sender may hold a cell's claim: the longest timeout of a function that sends (the
# release and retry functions, 120 s), so a live sender never loses its claim to another; a sender
# that died delays its cell by at most this long.
CLAIM_LEASE = timedelta(seconds=120)
# A send makes at most this many LMS calls: a token request and the POST, both again after a 401.
CALLS_PER_SEND = 4
# What a send may spend under its claim besides its LMS calls (its DynamoDB reads and writes).
SEND_MARGIN = timedelta(seconds=20)


class SendOutlivesLease(ValueError):
    """The HTTP timeout is so long that a send could outlive its claim's lease (a configuration error)."""


def slot_wait_budget(
    http_timeout_seconds: float,
    *,
    calls: int = CALLS_PER_SEND,
    lease: timedelta = CLAIM_LEASE,
    margin: timedelta = SEND_MARGIN,
) -> float:
    """How long one LMS call may wait for its platform's concurrency slot (seconds).

    A send holds its cell's claim; if it outlived the lease, another sender could take the cell
    over and both would post (for LTI 1.1, with no timestamp, the older value could land last).
    So every call of a send, each waiting its longest for a slot and then its longest for the LMS,
    must end inside the lease: calls x (wait + timeout) + margin <= lease. Raises SendOutlivesLease
    when the timeout alone leaves no room.
    """
    spare = lease.total_seconds() - margin.total_seconds() - calls * http_timeout_seconds
    if spare <= 0:
        raise SendOutlivesLease(
            f"An HTTP timeout of {http_timeout_seconds:g} s lets one send take {calls} x {http_timeout_seconds:g} s "
            f"of LMS calls, more than its claim's {lease.total_seconds():.0f} s lease allows (keeping "
            f"{margin.total_seconds():.0f} s for the rest of the send): set PASSBACK_HTTP_TIMEOUT_SECONDS to at most "
            f"{(lease - margin).total_seconds() / calls:g} (well under it, so calls may wait for a turn)."
        )
    return spare / calls


class Action(StrEnum):
    SEND = "send"
    RECORD = "record"
    WAIT = "wait"
    NOTHING = "nothing"
    # Another sender holds the cell's claim and is sending something else: leave it a note (the
    # cell's dirty mark) so it decides again once it has recorded its answer.
    DEFER = "defer"


@dataclass(frozen=True)
class CellState:
    """What the cell already records about the LMS."""

    status: str | None = None
    sent_value: float | None = None
    failed_value: float | None = None
    next_attempt: datetime | None = None
    # A live claim by another sender: the value it is sending (None: no live claim).
    claimed_value: float | None = None
    claimed: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    status: CellStatus | None = None
    value: float | None = None


def sync_decision(
    *,
    owed: float | None,
    released: bool,
    has_target: bool,
    merge_pending: bool,
    cell: CellState,
    now: datetime,
    forced: bool = False,
    withheld: bool = False,
) -> Decision:
    """The heart of sync: given what is owed and what the LMS has, what to do now.

    - nothing owed (below threshold, or a merge pending), not released, no target: record why, send
      nothing (rules 6, 8, 9, 12);
    - the LMS already has this value: nothing;
    - a retry is scheduled for later and this is not a resync: wait (failures are state, not floods);
    - a value that failed permanently, or gave up, is not sent again unless resynced;
    - otherwise send the owed value (the latest: a burst sends one value, not each step);
    - while another sender holds the cell's claim: defer to it (it decides again after recording;
      see `docs/architecture.md`), even when it is sending the value owed: the mark also puts the
      cell on the `due` index at the lease's end, so if the holder died mid-send (its input given
      back before the lease ended, as a restarted local stack does) the sweep still takes it over.
    """
    if cell.claimed:
        return Decision(Action.DEFER)
    if owed is None and withheld:
        # A deadline zero the course does not send (zero-fill off for learners who never opened Passback).
        # What the LMS already has stays: Passback does not take grades back (docs/gradebook.md).
        if cell.status == CellStatus.SYNCED:
            return Decision(Action.NOTHING)
        return _record(cell, CellStatus.NO_ZERO_FILL)
    if owed is None:
        return _record(cell, CellStatus.MERGE_PENDING if merge_pending else CellStatus.BELOW_THRESHOLD)
    if cell.status == CellStatus.SYNCED and cell.sent_value == owed:
        # The LMS holds exactly this value: it is out, whatever the release state says now (release is a fact).
        return Decision(Action.NOTHING)
    if not released:
        return _record(cell, CellStatus.NOT_RELEASED)
    if not has_target:
        return _record(cell, CellStatus.NO_TARGET)
    if not forced:
        if cell.status == CellStatus.RETRYING and cell.next_attempt is not None and cell.next_attempt > now:
            return Decision(Action.WAIT)
        stuck = {
            CellStatus.LMS_ERROR,
            CellStatus.USER_NOT_IN_COURSE,
            CellStatus.LMS_NEWER,
            CellStatus.GAVE_UP,
        }
        if cell.status in stuck and cell.failed_value == owed:
            return Decision(Action.NOTHING)
    return Decision(Action.SEND, value=owed)


def _record(cell: CellState, status: CellStatus) -> Decision:
    if cell.status == status:
        return Decision(Action.NOTHING)
    return Decision(Action.RECORD, status=status)


NO_ZERO_FILL_MESSAGE = (
    "Never opened Passback: no deadline zero is sent for this student, because this course sends deadline zeros "
    "only to students who opened Passback (a course setting). The zero goes to the LMS if they open a link, or if "
    "the setting is turned on."
)
NOT_RELEASED_MESSAGE = "Not released: release the activity's grades to send them."
BELOW_THRESHOLD_MESSAGE = (
    "No grade yet: the student has not answered the activity's minimum number of questions (and no deadline "
    "has passed)."
)
MERGE_PENDING_MESSAGE = (
    "Merge pending: the student must confirm the 'Confirm your request to merge accounts' email; their earlier "
    "work counts here once they do."
)
