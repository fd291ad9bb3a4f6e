"""Rule 3 (progress belongs to the learner), the ordering of score messages, and the timeline.

A product reports "answered so far" and "score so far" for one learner and activity. SQS
delivers at least once and in any order, and a deadline (GAU) can be set, moved or cleared at
any moment, also to a time before work already recorded. So progress keeps the timeline: every
distinct report (when it occurred, a tag of its message id, score, answered), sorted by when it
occurred. From it the tally at any moment is a pure function (`Progress.tally_until`): the
newest report by (occurred_at, tag) and the most questions answered, among the reports made up
to that moment. A course's grade is that tally at the course's GAU (rule 7), whatever order the
reports, enrollments and deadline changes came in. Applying the same message twice changes nothing.

The history is bounded (`HISTORY_BOUND` reports, about 15 bytes each as stored, far below DynamoDB's
400 KB item limit). Past the bound the oldest reports are folded into `floor`, one tally that
counts as on time for every deadline: exact for any deadline after the newest folded report,
and at worst generous to the learner for a deadline set before it (docs/data-model.md).
"""

from __future__ import annotations

import base64
import hashlib
from bisect import bisect_right, insort
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

OrderKey = tuple[int, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# 1,000 reports of 15 to 28 bytes as stored (data/progress.py): under a fourteenth of DynamoDB's 400 KB item limit.
HISTORY_BOUND = 1000


def micros(moment: datetime) -> int:
    """Whole microseconds since the epoch, by integer arithmetic (a float would lose precision)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def message_tag(message_id: str) -> str:
    """Eight characters standing for a message id: tells two reports of one microsecond apart
    (and orders them the same way everywhere) at a quarter of the id's size."""
    return base64.urlsafe_b64encode(hashlib.sha256(message_id.encode()).digest()[:6]).decode("ascii")


@dataclass(frozen=True)
class ScoreReport:
    """One score message, in domain terms."""

    message_id: str
    learner_id: str
    activity_id: str
    answered: int
    score: float
    occurred_at: datetime

    @property
    def order_key(self) -> OrderKey:
        return (micros(self.occurred_at), message_tag(self.message_id))


@dataclass(frozen=True, order=True)
class Step:
    """One report as the timeline keeps it: its order key, score and questions answered."""

    key: OrderKey
    score: float
    answered: int

    @classmethod
    def of(cls, report: ScoreReport) -> Step:
        return cls(key=report.order_key, score=float(report.score), answered=int(report.answered))


@dataclass(frozen=True)
class Tally:
    """What a set of reports adds up to: the newest score and the most questions answered."""

    latest_key: OrderKey | None = None
    latest_score: float | None = None
    max_answered: int = 0

    def add(self, step: Step) -> Tally:
        newer = self.latest_key is None or step.key > self.latest_key
        return Tally(
            latest_key=step.key if newer else self.latest_key,
            latest_score=step.score if newer else self.latest_score,
            max_answered=max(self.max_answered, step.answered),
        )

    def merge(self, other: Tally) -> Tally:
        if other.latest_key is None:
            return replace(self, max_answered=max(self.max_answered, other.max_answered))
        return self.add(Step(other.latest_key, other.latest_score or 0.0, other.max_answered))


@dataclass(frozen=True)
class Progress:
    """A learner's progress on one activity, across every course: the timeline of their reports.

    `history` holds distinct reports sorted by order key; `floor` what the reports folded away
    past `HISTORY_BOUND` add up to (always older than the history). `version` rises with each
    change, for the conditional write.
    """

    learner_id: str
    activity_id: str
    history: tuple[Step, ...] = ()
    floor: Tally = field(default_factory=Tally)
    version: int = 0

    def tally_until(self, cutoff: datetime | None) -> Tally:
        """The tally of the reports made on or before `cutoff` (all of them for None)."""
        steps = self.history
        if cutoff is not None:
            steps = steps[: bisect_right(steps, micros(cutoff), key=lambda s: s.key[0])]
        tally = self.floor
        for step in steps:
            tally = tally.add(step)
        return tally

    @property
    def overall(self) -> Tally:
        """Everything reported, whenever: what a course without a deadline counts."""
        return self.tally_until(None)


def progress_belongs_to_the_learner(progress: Progress, report: ScoreReport) -> Progress | None:
    """Apply one report to a learner's progress (rule 3): it joins the timeline.

    Returns the new progress, or None when the report changes nothing (a duplicate), so the
    caller can skip the write. Deadlines play no part here: a course's grade is read from the
    timeline at its deadline (`grading.grade_from_timeline`), so it does not matter whether the
    deadline was set before or after the report arrived.
    """
    return with_steps(progress, [Step.of(report)])


def with_steps(progress: Progress, steps: list[Step], floor: Tally | None = None) -> Progress | None:
    """The progress with more steps (and another floor's reports) in it; None if nothing changes."""
    history = list(progress.history)
    known = {s.key for s in history}
    new_floor = progress.floor if floor is None else progress.floor.merge(floor)
    for step in steps:
        if step.key in known:
            continue
        if new_floor.latest_key is not None and step.key < new_floor.latest_key:
            # Older than reports already folded away: it folds straight into the floor.
            new_floor = new_floor.add(step)
            continue
        insort(history, step)
        known.add(step.key)
    while len(history) > HISTORY_BOUND:
        new_floor = new_floor.add(history.pop(0))
    if tuple(history) == progress.history and new_floor == progress.floor:
        return None
    return replace(progress, history=tuple(history), floor=new_floor, version=progress.version + 1)
