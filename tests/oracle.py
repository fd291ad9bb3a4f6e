"""The oracle: what each LMS gradebook should end up holding, from the rules alone.

Written from docs/domain.md, not from the code (nothing here imports passback.domain):
slow, plain and meant to be read next to the rules. It covers one LTI 1.3 course with
activity links and one homepage link, the learners' launches, score messages, releases,
deadlines (GAU) and the clock. Minutes are relative to the start of the stream.

Reading of the rules this model makes, where domain.md leaves room:
- "work arriving after the GAU" is work that *occurred* after it (the message's occurred_at),
  so a message delayed in the queue still counts if the work was on time;
- a grade is a function of the whole timeline: the learner's reports, the activity's deadline
  as it finally stands, and the clock. When the learner enrolled, when the deadline was set, and
  whether some of the work was reported under another account later merged into this one, make
  no difference (issue 18);
- a deadline can be set, moved or cleared until it has passed; a change to a deadline that has
  passed is refused and changes nothing (extending one is a separate, explicit action that the
  generated streams do not use);
- a learner's work reported by email (a product account) before they first launched is theirs
  once they confirm the merge (rule 12); the streams always confirm;
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
    """The instructor sets (or, with None, clears) an activity's deadline; the clock is at minute 0."""

    activity: str
    minute: float | None


@dataclass(frozen=True)
class Drain:
    """The queues are worked off here (no effect on what is owed)."""


@dataclass(frozen=True)
class Sweep:
    """The retry schedule runs here (no effect on what is owed)."""


@dataclass(frozen=True)
class Confirm:
    """Learners with a pending merge request confirm it here (no effect on what is owed)."""


Event = Launch | Score | Release | Deadline | Drain | Sweep | Confirm


@dataclass
class Stream:
    activities: dict[str, int]  # activity id -> minimum questions
    students: tuple[str, ...]
    manual_release: bool
    events: list[Event] = field(default_factory=list)
    # Learners whose work before their first launch is reported by email (a product account): rule 12.
    email_users: frozenset[str] = frozenset()
    # Students in the LMS course when the instructor first launches (the roster Passback reads then).
    roster: frozenset[str] = frozenset()
    end_minute: float = 0.0  # the clock when the system has drained for the last time

    def scores(self) -> list[Score]:
        return [e for e in self.events if isinstance(e, Score)]


class Oracle:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def enrolled(self) -> set[str]:
        """Rule 2: a student's first launch from any link of the course enrolls them; in LTI 1.3 the
        course roster (NRPS, read at the instructor's first launch) enrolls every student the LMS had
        in the course then, launched or not (rule 13 lets their grades reach the LMS)."""
        return {e.user for e in self.stream.events if isinstance(e, Launch)} | set(self.stream.roster)

    def released(self) -> set[str]:
        """Rule 8: released by the instructor, or by an immediate release policy."""
        if not self.stream.manual_release:
            return set(self.stream.activities)
        return {e.activity for e in self.stream.events if isinstance(e, Release)}

    def deadlines_in_effect(self, activity: str) -> list[float | None]:
        """Each deadline the activity had, in order, starting with none. The stream's changes happen
        at minute 0: a change to a deadline at or before 0 (it has passed) is refused."""
        states: list[float | None] = [None]
        for event in self.stream.events:
            if not isinstance(event, Deadline) or event.activity != activity:
                continue
            current = states[-1]
            if current is not None and current <= 0:
                continue  # passed: cannot be moved or cleared
            if event.minute != current:
                states.append(event.minute)
        return states

    def deadline(self, activity: str) -> float | None:
        return self.deadlines_in_effect(activity)[-1]

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

        Progress only grows, so each report past the threshold that was on time under some deadline
        the activity had was once the latest one the system knew; a deadline can give a zero before a
        late-arriving on-time report, and a deadline set later can take back a grade sent before it.
        """
        minimum = max(1, self.stream.activities[activity])
        unique = {s.message_id: s for s in self.stream.scores() if s.user == user and s.activity == activity}
        states = self.deadlines_in_effect(activity)
        values = {
            s.score
            for s in unique.values()
            if s.answered >= minimum and any(d is None or s.minute <= d for d in states)
        }
        if any(d is not None for d in states):
            values.add(0.0)
        return values
