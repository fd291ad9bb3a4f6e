"""The oracle: what each LMS gradebook should end up holding, from the rules alone.

Written from docs/domain.md, not from the code (nothing here imports passback.domain):
slow, plain and meant to be read next to the rules. It covers one LTI 1.3 course with
activity links and one homepage link, the learners' launches, score messages, releases,
deadlines (GAU) and the clock. Minutes are relative to the start of the stream.

Reading of the rules this model makes, where domain.md leaves room:
- "work arriving after the GAU" is work that *occurred* after it (the message's occurred_at),
  so a message delayed in the queue still counts if the work was on time;
- the homepage composite counts only released activities (rule 8 wins over rule 4: an
  unreleased grade must not leak through the average);
- a learner is known to the course from their first launch of any of its links, and in 1.3
  that is enough for every link of the course to reach them (rule 13).
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOME = "home"


@dataclass(frozen=True)
class Launch:
    user: str
    link: str  # an activity id, or HOME


@dataclass(frozen=True)
class Score:
    user: str
    activity: str
    answered: int
    score: float
    minute: float  # when the work occurred
    message_id: str


@dataclass(frozen=True)
class Release:
    activity: str


@dataclass(frozen=True)
class Deadline:
    activity: str
    minute: float


@dataclass(frozen=True)
class Drain:
    """The queues are worked off here (no effect on what is owed)."""


@dataclass(frozen=True)
class Sweep:
    """The retry schedule runs here (no effect on what is owed)."""


Event = Launch | Score | Release | Deadline | Drain | Sweep


@dataclass
class Stream:
    activities: dict[str, int]  # activity id -> minimum questions
    students: tuple[str, ...]
    manual_release: bool
    events: list[Event] = field(default_factory=list)
    end_minute: float = 0.0  # the clock when the system has drained for the last time

    def scores(self) -> list[Score]:
        return [e for e in self.events if isinstance(e, Score)]


class Oracle:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def enrolled(self) -> set[str]:
        """Rule 2: a student's first launch from any link of the course enrolls them."""
        return {e.user for e in self.stream.events if isinstance(e, Launch)}

    def released(self) -> set[str]:
        """Rule 8: released by the instructor, or by an immediate release policy."""
        if not self.stream.manual_release:
            return set(self.stream.activities)
        return {e.activity for e in self.stream.events if isinstance(e, Release)}

    def deadline(self, activity: str) -> float | None:
        found = [e.minute for e in self.stream.events if isinstance(e, Deadline) and e.activity == activity]
        return found[-1] if found else None

    def on_time(self, user: str, activity: str) -> list[Score]:
        """Rule 7: work done after the deadline does not count; duplicates are one message."""
        gau = self.deadline(activity)
        unique = {s.message_id: s for s in self.stream.scores() if s.user == user and s.activity == activity}
        return [s for s in unique.values() if gau is None or s.minute <= gau]

    def grade(self, user: str, activity: str) -> float | None:
        """Rules 3, 6, 7: the latest score counts once the minimum is answered; a passed GAU gives 0."""
        minimum = max(1, self.stream.activities[activity])
        reports = self.on_time(user, activity)
        most_answered = max((s.answered for s in reports), default=0)
        if reports and most_answered >= minimum:
            latest = max(reports, key=lambda s: s.minute)
            return latest.score
        gau = self.deadline(activity)
        if gau is not None and self.stream.end_minute >= gau:
            return 0.0
        return None

    def gradebook(self) -> dict[str, dict[str, float]]:
        """{user: {link: percent}}: what the LMS should hold once everything has drained."""
        book: dict[str, dict[str, float]] = {}
        released = self.released()
        for user in sorted(self.enrolled()):
            row: dict[str, float] = {}
            counted = []
            for activity in self.stream.activities:
                value = self.grade(user, activity)
                if activity in released and value is not None:
                    row[activity] = value
                    counted.append(value)
            if counted:
                row[HOME] = sum(counted) / len(counted)  # rule 4
            if row:
                book[user] = row
        return book

    def values_ever_owed(self, user: str, activity: str) -> set[float]:
        """Every value an activity link could rightly hold at some moment (for 'nothing extra sent').

        Progress only grows, so each on-time report past the threshold was once the latest one
        the system knew; a deadline can give a zero before a late-arriving on-time report.
        """
        minimum = max(1, self.stream.activities[activity])
        values = {s.score for s in self.on_time(user, activity) if s.answered >= minimum}
        if self.deadline(activity) is not None:
            values.add(0.0)
        return values
