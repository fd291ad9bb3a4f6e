"""Rule 3 (progress belongs to the learner) and the ordering of score messages.

A product reports "answered so far" and "score so far" for one learner and activity. SQS
delivers at least once and in any order, so progress is kept as order-independent
aggregates: the newest report by (occurred_at, message id), and the most questions ever
answered. Applying the same message twice, or an older one after a newer, changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

OrderKey = tuple[int, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        # Whole microseconds by integer arithmetic: a float would lose precision, milliseconds would tie.
        return ((self.occurred_at - _EPOCH) // timedelta(microseconds=1), self.message_id)


@dataclass(frozen=True)
class Tally:
    """What a set of reports adds up to: the newest score and the most questions answered."""

    latest_key: OrderKey | None = None
    latest_score: float | None = None
    max_answered: int = 0

    def add(self, report: ScoreReport) -> Tally:
        newer = self.latest_key is None or report.order_key > self.latest_key
        return Tally(
            latest_key=report.order_key if newer else self.latest_key,
            latest_score=report.score if newer else self.latest_score,
            max_answered=max(self.max_answered, report.answered),
        )

    def includes(self, report: ScoreReport) -> bool:
        """True when adding the report would change nothing (a duplicate or an older report)."""
        return self.add(report) == self


@dataclass(frozen=True)
class Progress:
    """A learner's progress on one activity, across every course.

    `cuts` holds, per course whose deadline (GAU) some report came after, the tally of the
    reports made on or before that deadline: work done after a course's GAU is recorded
    (it counts in other courses) but never changes that course's grade (rule 7).
    """

    learner_id: str
    activity_id: str
    overall: Tally = field(default_factory=Tally)
    cuts: Mapping[str, Tally] = field(default_factory=dict)
    version: int = 0

    def tally_for_course(self, course_id: str) -> Tally:
        return self.cuts.get(course_id, self.overall)


def progress_belongs_to_the_learner(
    progress: Progress, report: ScoreReport, deadlines: Mapping[str, datetime]
) -> Progress | None:
    """Apply one report to a learner's progress (rule 3), honouring each course's GAU (rule 7).

    `deadlines` maps course id to that course's GAU for this activity, for the courses that
    have one. Returns the new progress, or None when the report changes nothing (duplicate,
    older than what is known, or adds nothing), so the caller can skip the write.
    """
    cuts = dict(progress.cuts)
    for course_id, gau in deadlines.items():
        after_deadline = report.occurred_at > gau
        if course_id in cuts:
            if not after_deadline:
                cuts[course_id] = cuts[course_id].add(report)
        elif after_deadline:
            # Until now every report was on time for this course (else a cut would exist),
            # so the overall tally so far is exactly the on-time tally.
            cuts[course_id] = progress.overall
    new = replace(progress, overall=progress.overall.add(report), cuts=cuts)
    if new.overall == progress.overall and dict(new.cuts) == dict(progress.cuts):
        return None
    return replace(new, version=progress.version + 1)
