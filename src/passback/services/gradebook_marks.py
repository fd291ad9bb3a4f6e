"""The gradebook's marks (a symbol, a tone and words per status) and how it writes grades and times.

Grades are percentages (rule 5) and are written with their sign; times are written in the
instructor's time zone with the offset. Plain data and functions, shared by the view model, the
page and the exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from passback.domain.delivery import CellStatus
from passback.domain.release import ReleasePolicy

# Statuses the gradebook shows beyond the sync routine's own.
NO_LINK = "no link"
SENDING = "sending"


class Tone(StrEnum):
    """How a mark reads at a glance; colour is always paired with a symbol and words."""

    OK = "ok"
    INFO = "info"
    WAIT = "wait"
    WARN = "warn"
    BAD = "bad"


@dataclass(frozen=True)
class Mark:
    status: str
    symbol: str
    label: str
    tone: Tone
    meaning: str
    # The short "what to do", shown with the label when there is something to do.
    todo: str | None = None

    @property
    def key(self) -> str:
        return self.status.lower().replace(" ", "-")


MARKS: dict[str, Mark] = {
    m.status: m
    for m in (
        Mark(CellStatus.SYNCED, "✓", "synced", Tone.OK, "The LMS has this grade."),
        Mark(SENDING, "↑", "sending", Tone.INFO, "Released and being sent to the LMS now.", "updates by itself"),
        Mark(
            CellStatus.NOT_RELEASED,
            "◷",
            "not released",
            Tone.WAIT,
            "Nothing leaves before release: the grade waits here until the activity's grades are released.",
            "release to send",
        ),
        Mark(
            CellStatus.BELOW_THRESHOLD,
            "\u2013",
            "no grade yet",
            Tone.WAIT,
            "The learner has not answered the activity's minimum number of questions, and no deadline has passed.",
        ),
        Mark(
            CellStatus.NO_TARGET,
            "⊘",
            "no target",
            Tone.BAD,
            "The LMS never told Passback where this learner's grade goes for this link.",
            "student must open this link once",
        ),
        Mark(
            CellStatus.LMS_ERROR,
            "!",
            "LMS error",
            Tone.WARN,
            "The LMS refused the grade; its own message is shown. Usually the LMS's administrators can correct it.",
            "try again",
        ),
        Mark(
            CellStatus.USER_NOT_IN_COURSE,
            "?",
            "user not in course",
            Tone.WARN,
            "The LMS does not know this user in this course: the student dropped, or a merge is pending.",
            "resync once enrolled",
        ),
        Mark(
            CellStatus.RETRYING,
            "↻",
            "retrying",
            Tone.WARN,
            "The LMS failed; Passback tries again by itself, with backoff, for up to an hour.",
            "automatic; or try again now",
        ),
        Mark(
            CellStatus.GAVE_UP,
            "✗",
            "gave up",
            Tone.BAD,
            "The LMS kept failing for an hour; Passback stopped trying.",
            "resync",
        ),
        Mark(
            CellStatus.LMS_NEWER,
            "≠",
            "LMS has newer",
            Tone.WARN,
            "The LMS already holds a newer score for this learner (entered in the LMS or by another tool).",
            "resync to overwrite",
        ),
        Mark(
            CellStatus.MERGE_PENDING,
            "⇄",
            "merge pending",
            Tone.WAIT,
            "The learner must confirm the 'Confirm your request to merge accounts' email.",
            "student confirms the email",
        ),
        Mark(
            CellStatus.COLUMN_DELETED,
            "⌫",
            "LMS column deleted",
            Tone.BAD,
            "The link's column was deleted in the LMS, so its grades have nowhere to go; nothing is sent or retried.",
            "recreate the column",
        ),
        Mark(
            CellStatus.NO_ZERO_FILL,
            "∅",
            "no zero sent",
            Tone.INFO,
            "Never opened Passback: this course sends deadline zeros only to students who opened Passback, so this "
            "zero stays here (the course's zero-fill setting).",
        ),
        Mark(
            NO_LINK,
            "○",
            "no LMS link",
            Tone.WAIT,
            "There is no link to this activity in the LMS course, so its grade has no LMS column.",
            "add a link in the LMS",
        ),
    )
}

# Statuses a per-cell resync can help with.
RESYNCABLE = frozenset(
    {
        CellStatus.LMS_ERROR,
        CellStatus.USER_NOT_IN_COURSE,
        CellStatus.RETRYING,
        CellStatus.GAVE_UP,
        CellStatus.LMS_NEWER,
        SENDING,
    }
)
NEEDS_ATTENTION = frozenset(
    {
        CellStatus.NO_TARGET,
        CellStatus.LMS_ERROR,
        CellStatus.USER_NOT_IN_COURSE,
        CellStatus.GAVE_UP,
        CellStatus.LMS_NEWER,
        CellStatus.RETRYING,
        CellStatus.COLUMN_DELETED,
    }
)


def mark_of(status: str) -> Mark:
    found = MARKS.get(status)
    if found is not None:
        return found
    return Mark(status, "•", status, Tone.WARN, "A status this page does not know yet; its message says more.")


def format_grade(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def format_percent(value: float | None) -> str:
    """A grade as what it is (rule 5): a percentage."""
    text = format_grade(value)
    return f"{text} %" if text else ""


def format_points(value: float | None, points: float | None) -> str:
    """What the LMS shows in a column of `points` points for a percentage (rule 5: it scales)."""
    if value is None or not points:
        return ""
    return f"{format_grade(value * points / 100)} / {format_grade(points)} pts"


def offset_text(moment: datetime, zone: tzinfo) -> str:
    """`UTC-08:00` (with a real minus sign): the offset, always shown with a local time."""
    offset = moment.astimezone(zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "\u2212"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def format_when(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """A moment in the instructor's time zone, with its offset: `2026-03-02 23:59 (UTC-08:00)`."""
    if moment is None:
        return ""
    if zone is UTC:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{moment.astimezone(zone).strftime('%Y-%m-%d %H:%M')} ({offset_text(moment, zone)})"


POLICY_WORDS: dict[ReleasePolicy, str] = {
    ReleasePolicy.IMMEDIATE: "immediately: each grade is sent as soon as it registers",
    ReleasePolicy.AT_DATE: "at a date: every activity's grades are released on the course's release date",
    ReleasePolicy.AFTER_GAU: "after the deadline: each activity's grades are released when its deadline (GAU) passes",
    ReleasePolicy.MANUAL: "manually: an activity's grades are sent only once you click its Release Grades button",
}
