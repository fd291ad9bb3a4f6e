"""The instructor's gradebook as a view model: every cell's grade, sync status and message.

Built from one read of the course's partition (`GradebookViewRepository.load`). A cell with a
recorded outcome (synced, an LMS failure, a retry) shows that outcome; a cell that has no
outcome yet, or whose last record is a "why not" (not released, no target, below threshold),
shows what the sync routine would decide right now, so every cell tells the truth about the
present rather than about the last time something was synced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo

from passback.data.gradebook_view import GradebookSnapshot, GradebookViewRepository
from passback.domain import delivery
from passback.domain.delivery import Action, CellState, CellStatus, sync_decision
from passback.domain.grading import AssignedActivity, Owed, assigned_grade, two_link_styles
from passback.domain.migration import protocol_of
from passback.domain.records import (
    ActivityInCourse,
    Attempt,
    CellRecord,
    CourseRecord,
    EnrollmentRecord,
    LinkRecord,
)
from passback.services.gradebook_marks import (
    MARKS,
    NEEDS_ATTENTION,
    NO_LINK,
    POLICY_WORDS,
    RESYNCABLE,
    SENDING,
    Mark,
    Tone,
    format_grade,
    format_percent,
    format_points,
    format_when,
    mark_of,
    offset_text,
)
from passback.services.gradebook_refusals import RefusalNotice, cell_refusal
from passback.services.sync import link_target

# The marks and the ways of writing grades and times live in gradebook_marks; importers of this
# module get them here too.
__all__ = [
    "MARKS",
    "NEEDS_ATTENTION",
    "NO_LINK",
    "POLICY_WORDS",
    "RESYNCABLE",
    "SENDING",
    "CellView",
    "ColumnView",
    "GradebookService",
    "GradebookView",
    "Mark",
    "RowView",
    "Tone",
    "build_view",
    "cell_view",
    "format_grade",
    "format_percent",
    "format_points",
    "format_when",
    "mark_of",
    "offset_text",
]

NO_LINK_MESSAGE = (
    "No link in the LMS for this activity: this grade has no LMS column to go to. Add a link to this activity "
    "in the LMS course (or use a homepage link, which sends the course average), then open it once."
)
SENDING_MESSAGE = (
    "On its way: this grade is released and the LMS can take it; it is being sent now (usually a few seconds). "
    "The page updates by itself (without JavaScript: Refresh); if it stays like this, use resync."
)
MERGE_WAITING_MESSAGE = (
    "Waiting for a merge confirmation: this learner's LMS account is not yet linked to their account in the "
    "product (same email address). Work they did there (scores, answers) is held and counts here, and is sent, "
    "once they click the link in the 'Confirm your request to merge accounts' email."
)
COMPOSITE_NOT_RELEASED_MESSAGE = (
    "Not released: none of the activities this learner has a grade in is released yet, so the course average "
    "is not sent. Release an activity's grades to send them."
)
COMPOSITE_BELOW_THRESHOLD_MESSAGE = (
    "No course average yet: the learner has no registered grade in any assigned activity (and no deadline has "
    "passed), so there is nothing to send."
)


@dataclass(frozen=True)
class CellView:
    learner_id: str
    link_id: str | None
    grade: float | None
    status: str
    message: str
    # Retrying: the next attempt; synced: when it was sent.
    when: datetime | None = None
    # A note beside the grade: "deadline zero", "1 of 3 answered".
    note: str | None = None
    # Every step, for the cell's details: questions answered and the activity's threshold (rule 6),
    # the last attempts (when, what was sent, what the LMS answered), and when the LMS last said yes.
    answered: int = 0
    threshold: int | None = None
    history: tuple[Attempt, ...] = ()
    acked_at: datetime | None = None
    acked_value: float | None = None
    merge_waiting: bool = False
    # In a course moved from LTI 1.1 to 1.3: the protocol this cell's grade goes by (domain/migration.py).
    protocol: str | None = None
    # A report for this learner and activity refused for its date (services/gradebook_refusals.py).
    refusal: RefusalNotice | None = None

    @property
    def mark(self) -> Mark:
        return mark_of(self.status)

    @property
    def resyncable(self) -> bool:
        return self.status in RESYNCABLE


@dataclass(frozen=True)
class ColumnView:
    key: str
    title: str
    activity_id: str | None
    link_id: str | None
    composite: bool = False
    released: bool = False
    released_at: datetime | None = None
    gau: datetime | None = None
    gau_passed: bool = False
    extra_links: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    # The activity's minimum number of questions (rule 6), from the catalog.
    threshold: int | None = None
    # The LMS column's points (AGS `scoreMaximum` of the line item), where Passback knows it.
    points: float | None = None
    # Why the LMS column is not called by the activity's title (the LMS refused the label change).
    label_note: str | None = None


@dataclass(frozen=True)
class RowView:
    learner_id: str
    name: str
    email: str | None
    cells: tuple[CellView, ...]
    # Brought in by the course roster (NRPS) and never opened a link of the course.
    never_opened: bool = False


@dataclass(frozen=True)
class GradebookView:
    course: CourseRecord
    columns: tuple[ColumnView, ...]
    rows: tuple[RowView, ...]
    totals: Mapping[str, int]
    now: datetime
    # The time zone the page shows times in (the instructor's; UTC when nothing says otherwise).
    zone: tzinfo = UTC

    @property
    def needs_attention(self) -> int:
        return sum(n for status, n in self.totals.items() if status in NEEDS_ATTENTION)

    def activity(self, activity_id: str) -> ActivityInCourse | None:
        return self.course.activities.get(activity_id)

    @property
    def refused_reports(self) -> int:
        """Cells with a refused report that nothing applied since (the summary points at them)."""
        return sum(1 for row in self.rows for c in row.cells if c.refusal is not None and not c.refusal.past)


class GradebookService:
    def __init__(
        self,
        view: GradebookViewRepository,
        thresholds: Callable[[Iterable[str]], Mapping[str, int | None]] | None = None,
    ) -> None:
        self.view = view
        # The catalog's minimum number of questions per activity: one BatchGetItem, cached a minute.
        self.thresholds = thresholds or (lambda _activities: {})

    def build(self, course_id: str, now: datetime, zone: tzinfo = UTC) -> GradebookView | None:
        snapshot = self.view.load(course_id)
        if snapshot is None:
            return None
        known = self.thresholds(list(snapshot.course.activities)) if snapshot.course.activities else {}
        return build_view(snapshot, now, thresholds=known, zone=zone)


def _first(links: Iterable[LinkRecord]) -> tuple[LinkRecord | None, int]:
    ordered = sorted(links, key=lambda link: (link.title or "", link.link_id))
    return (ordered[0] if ordered else None), max(0, len(ordered) - 1)


def build_view(
    snapshot: GradebookSnapshot,
    now: datetime,
    *,
    thresholds: Mapping[str, int | None] | None = None,
    zone: tzinfo = UTC,
) -> GradebookView:
    course = snapshot.course
    thresholds = thresholds or {}
    activities = sorted(course.activities.values(), key=lambda a: a.idx)
    specs: list[tuple[ColumnView, LinkRecord | None]] = []
    for activity in activities:
        link, extra = _first(course.links_for_activity(activity.activity_id))
        released = course.released(activity.activity_id, now)
        title = activity.title or (link.title if link else None) or activity.activity_id
        column = ColumnView(
            key=activity.activity_id,
            title=title,
            activity_id=activity.activity_id,
            link_id=link.link_id if link else None,
            released=released,
            released_at=activity.released_at,
            gau=activity.gau,
            gau_passed=activity.gau is not None and activity.gau <= now,
            extra_links=extra,
            threshold=thresholds.get(activity.activity_id),
            points=_points(link),
            label_note=link.label_note if link else None,
        )
        specs.append((column, link))
    homepage, extra = _first(course.homepage_links())
    if homepage is not None:
        composite = ColumnView(
            key="composite",
            title="Course average",
            activity_id=None,
            link_id=homepage.link_id,
            composite=True,
            released=True,
            extra_links=extra,
            points=_points(homepage),
        )
        specs.append((composite, homepage))

    learners = sorted(
        (e for e in snapshot.enrollments if not e.is_instructor),
        key=lambda e: ((e.name or "").casefold(), (e.email or "").casefold(), e.learner_id),
    )
    rows: list[RowView] = []
    per_column: list[Counter[str]] = [Counter() for _ in specs]
    totals: Counter[str] = Counter()
    # What `services.sync.link_owes` computes per cell, computed once per learner: with 40
    # activities, building the assigned list per cell would be 40 times the work.
    releases = {a.activity_id: course.released(a.activity_id, now) for a in activities}
    for enrollment in learners:
        assigned = assigned_activities(activities, releases, enrollment, course.zero_fill_never_opened)
        cells: list[CellView] = []
        for position, (column, link) in enumerate(specs):
            cell = snapshot.cells.get((enrollment.learner_id, link.link_id)) if link else None
            owed = two_link_styles(link.activity_id, assigned) if link else None
            view = cell_view(course, enrollment, column, link, cell, now, owed=owed, zone=zone)
            if course.lti13_issuer and link is not None:
                view = replace(view, protocol=protocol_of(link_target(course, link, enrollment, cell)))
            if snapshot.refusals and column.activity_id is not None:
                notice = cell_refusal(snapshot.refusals, course, enrollment, column.activity_id, now, zone)
                view = replace(view, refusal=notice) if notice is not None else view
            cells.append(view)
            per_column[position][view.status] += 1
            totals[view.status] += 1
        rows.append(
            RowView(
                learner_id=enrollment.learner_id,
                name=enrollment.name or enrollment.email or enrollment.lms_user_id or enrollment.learner_id,
                email=enrollment.email,
                cells=tuple(cells),
                never_opened=enrollment.never_opened,
            )
        )
    columns = tuple(
        ColumnView(**{**column.__dict__, "counts": dict(per_column[i])}) for i, (column, _) in enumerate(specs)
    )
    return GradebookView(course=course, columns=columns, rows=tuple(rows), totals=dict(totals), now=now, zone=zone)


def _points(link: LinkRecord | None) -> float | None:
    """The LMS column's points where the link record knows them (a line item's `scoreMaximum`)."""
    value = getattr(link, "score_maximum", None) if link is not None else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def assigned_activities(
    activities: Iterable[ActivityInCourse],
    released: Mapping[str, bool],
    enrollment: EnrollmentRecord,
    zero_fill_never_opened: bool = True,
) -> list[AssignedActivity]:
    """The learner's grades in the course's activities, as `services.sync.link_owes` builds them."""
    assigned = []
    for activity in activities:
        entry = enrollment.grades.get(activity.idx)
        grade, withheld = assigned_grade(
            entry.value if entry else None,
            bool(entry and entry.zero),
            never_opened=enrollment.never_opened,
            zero_fill_never_opened=zero_fill_never_opened,
        )
        assigned.append(
            AssignedActivity(
                activity_id=activity.activity_id,
                released=released[activity.activity_id],
                grade=grade,
                answered=entry.answered if entry else 0,
                withheld=withheld,
            )
        )
    return assigned


def _activity_entry(
    course: CourseRecord, enrollment: EnrollmentRecord, activity_id: str | None, threshold: int | None = None
) -> tuple[float | None, str | None, int]:
    """The learner's grade in the activity, a note beside it, and how many questions they answered."""
    activity = course.activities.get(activity_id) if activity_id else None
    entry = enrollment.grades.get(activity.idx) if activity else None
    if entry is None:
        return None, (f"0 of {threshold} answered" if threshold else None), 0
    if entry.zero and entry.value is not None:
        return entry.value, "deadline zero", entry.answered
    if entry.value is None:
        if threshold:
            return None, f"{entry.answered} of {threshold} answered", entry.answered
        return None, (f"{entry.answered} answered" if entry.answered else None), entry.answered
    return entry.value, None, entry.answered


def cell_view(
    course: CourseRecord,
    enrollment: EnrollmentRecord,
    column: ColumnView,
    link: LinkRecord | None,
    cell: CellRecord | None,
    now: datetime,
    *,
    owed: Owed | None = None,
    zone: tzinfo = UTC,
) -> CellView:
    """One cell: the grade, an honest status with what happened and what to do, and every step behind it.

    `owed` is what the link owes the learner (`services.sync.link_owes`), computed here when not given.
    """
    view = _cell_status(course, enrollment, column, link, cell, now, owed=owed, zone=zone)
    if cell is None:
        return replace(view, threshold=column.threshold, merge_waiting=enrollment.merge_pending)
    return replace(
        view,
        threshold=column.threshold,
        history=cell.history,
        acked_at=cell.sent_at,
        acked_value=cell.sent_value,
        merge_waiting=enrollment.merge_pending,
    )


def _cell_status(
    course: CourseRecord,
    enrollment: EnrollmentRecord,
    column: ColumnView,
    link: LinkRecord | None,
    cell: CellRecord | None,
    now: datetime,
    *,
    owed: Owed | None,
    zone: tzinfo,
) -> CellView:
    grade, note, answered = _activity_entry(course, enrollment, column.activity_id, column.threshold)
    if link is None:
        return CellView(enrollment.learner_id, None, grade, NO_LINK, NO_LINK_MESSAGE, note=note, answered=answered)
    if owed is None:
        ordered = sorted(course.activities.values(), key=lambda a: a.idx)
        released = {a.activity_id: course.released(a.activity_id, now) for a in ordered}
        assigned = assigned_activities(ordered, released, enrollment, course.zero_fill_never_opened)
        owed = two_link_styles(link.activity_id, assigned)
    if column.composite:
        grade, note = owed.value, None
    if cell is not None and cell.status == CellStatus.SYNCED and link.sent_to_old_column(cell.sent_at):
        cell = replace(cell, status=None, sent_value=None)  # sent to the column that was deleted since
    recorded = cell.status if cell is not None else None
    blocked = delivery.lms_blocks(column_deleted=link.column_deleted, in_course=enrollment.in_course)
    if blocked is not None:
        # What the sync routine records before any POST (services/sync.py), shown the same way.
        message = delivery.COLUMN_DELETED_EXPLANATION if link.column_deleted else delivery.NOT_IN_COURSE_BY_ROSTER
        return CellView(enrollment.learner_id, link.link_id, grade, blocked, message, note=note)
    failures = {
        CellStatus.LMS_ERROR,
        CellStatus.USER_NOT_IN_COURSE,
        CellStatus.RETRYING,
        CellStatus.GAVE_UP,
        CellStatus.LMS_NEWER,
    }
    if cell is not None and recorded in failures:
        return replace(_failure(enrollment, link, cell, grade, note, now, zone), answered=answered)
    if owed.value is None and owed.withheld:
        return _no_zero_fill(enrollment, link, cell, grade, note, answered)
    if cell is not None and recorded == CellStatus.SYNCED and owed.value == cell.sent_value:
        sent = f"Synced: the LMS has {format_percent(cell.sent_value)}"
        sent += f", acknowledged {format_when(cell.sent_at, zone)}." if cell.sent_at else "."
        return CellView(
            enrollment.learner_id, link.link_id, grade, CellStatus.SYNCED, sent, cell.sent_at, note, answered
        )
    if cell is not None and recorded is not None and recorded not in MARKS:
        # A status recorded by a newer version of the sync routine: show it as it is.
        return CellView(
            enrollment.learner_id, link.link_id, grade, recorded, cell.message or recorded, note=note, answered=answered
        )
    target = link_target(course, link, enrollment, cell)
    decision = sync_decision(
        owed=owed.value,
        released=owed.released,
        has_target=not isinstance(target, str),
        merge_pending=enrollment.merge_pending,
        cell=CellState(
            status=recorded,
            sent_value=cell.sent_value if cell else None,
            failed_value=cell.failed_value if cell else None,
            next_attempt=cell.next_attempt_at if cell else None,
        ),
        now=now,
    )
    if decision.action in (Action.SEND, Action.WAIT):
        message = SENDING_MESSAGE
        if cell is not None and cell.sent_value is not None:
            message = (
                f"The LMS has {format_percent(cell.sent_value)}; {format_percent(owed.value)} is on its way: "
                + (message.split(": ", 1)[1])
            )
        return CellView(enrollment.learner_id, link.link_id, grade, SENDING, message, note=note, answered=answered)
    status = decision.status if decision.action is Action.RECORD else recorded
    if status is None:  # NOTHING with nothing recorded: cannot happen, but never show a blank
        status = CellStatus.BELOW_THRESHOLD
    message = _why_not(status, target, column, answered)
    return CellView(enrollment.learner_id, link.link_id, grade, status, message, note=note, answered=answered)


def _no_zero_fill(
    enrollment: EnrollmentRecord,
    link: LinkRecord,
    cell: CellRecord | None,
    grade: float | None,
    note: str | None,
    answered: int,
) -> CellView:
    """A deadline zero the course does not send (rule 13's setting), and what the LMS has meanwhile."""
    message = delivery.NO_ZERO_FILL_MESSAGE
    if cell is not None and cell.status == CellStatus.SYNCED and cell.sent_value is not None:
        # Sent while the setting was on: Passback does not take a grade back out of the LMS.
        message += (
            f" The LMS has {format_percent(cell.sent_value)}, sent before the setting was turned off; it stays "
            "there (change it in the LMS if it should go)."
        )
    return CellView(
        enrollment.learner_id, link.link_id, grade, CellStatus.NO_ZERO_FILL, message, note=note, answered=answered
    )


def _why_not(status: str, target: object, column: ColumnView, answered: int) -> str:
    composite = column.composite
    if status == CellStatus.NO_TARGET and isinstance(target, str):
        return target
    if status == CellStatus.NOT_RELEASED:
        return COMPOSITE_NOT_RELEASED_MESSAGE if composite else delivery.NOT_RELEASED_MESSAGE
    if status == CellStatus.MERGE_PENDING:
        return MERGE_WAITING_MESSAGE
    if status == CellStatus.BELOW_THRESHOLD and not composite and column.threshold:
        return (
            f"No grade yet: {answered} of the {column.threshold} questions this activity needs before a grade "
            "registers (rule 6); nothing is sent until then, and no deadline has passed."
        )
    if status == CellStatus.BELOW_THRESHOLD:
        return COMPOSITE_BELOW_THRESHOLD_MESSAGE if composite else delivery.BELOW_THRESHOLD_MESSAGE
    return mark_of(status).meaning


def _failure(
    enrollment: EnrollmentRecord,
    link: LinkRecord,
    cell: CellRecord,
    grade: float | None,
    note: str | None,
    now: datetime,
    zone: tzinfo = UTC,
) -> CellView:
    status = str(cell.status)
    lms_said = _sentence((cell.message or "").strip() or "the LMS gave no message")
    if status == CellStatus.RETRYING:
        at = cell.next_attempt_at
        when = (
            "at the next sweep" if at is None else ("now (it is due)" if at <= now else f"at {format_when(at, zone)}")
        )
        message = (
            f"The LMS failed: {lms_said} Passback tries again by itself {when} (attempt {cell.attempts + 1}; it "
            "gives up after an hour of failures). Click Try again to try right now."
        )
        return CellView(enrollment.learner_id, link.link_id, grade, status, message, at, note)
    if status == CellStatus.LMS_ERROR:
        message = (
            f"The LMS answered: {lms_said} Passback does not retry this by itself. Usually the LMS's administrators "
            "can correct it; once they have, click Try again."
        )
        return CellView(enrollment.learner_id, link.link_id, grade, status, message, note=note)
    if status == CellStatus.USER_NOT_IN_COURSE and delivery.USER_NOT_IN_COURSE_EXPLANATION not in lms_said:
        lms_said = f"{lms_said} {delivery.USER_NOT_IN_COURSE_EXPLANATION}"
    return CellView(enrollment.learner_id, link.link_id, grade, status, lms_said, note=note)


def _sentence(text: str) -> str:
    """The LMS's words as a sentence of their own, so Passback's explanation does not run into them."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
