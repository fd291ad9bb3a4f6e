"""Generated streams pushed through the in-process stack, and the oracle's verdict on the result.

`make_stream` draws a stream from a `random.Random` (hypothesis hands in its own, so failures
shrink and replay). `Scenario` plays it against the `stack` and `lms` fixtures: one fresh LMS
course per stream, so many streams share one stack. `Delivery` says how score messages reach
the queue (duplicated, shuffled); fault tests wrap `drain` to break things in between.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oracle import HOME, Confirm, Deadline, Drain, Event, Launch, Oracle, Release, Score, Stream, Sweep
from passback import container
from passback.domain.merges import MergeStatus
from passback.domain.release import ReleasePolicy
from passback.services.course_settings import SettingRefused
from stack_harness import Stack, activity, score

_serial = itertools.count(1)

# Statuses a cell may rest in once everything has drained and nothing is failing.
RESTING = {"synced", "not released", "below threshold"}


def make_stream(rng: random.Random, *, max_students: int = 3, max_activities: int = 2) -> Stream:
    n = next(_serial)
    activities = {f"r{n}-a{i}": rng.randint(1, 3) for i in range(rng.randint(1, max_activities))}
    students = tuple(f"r{n}-s{i}" for i in range(rng.randint(1, max_students)))
    stream = Stream(
        activities=activities,
        students=students,
        manual_release=rng.random() < 0.5,
        email_users=frozenset(u for u in students if rng.random() < 0.3),
    )
    # An email learner joins the LMS course only when they first launch: were they on the roster
    # Passback reads at the start, that launch would not be a new identity, and no merge would be asked.
    stream.roster = frozenset(u for u in students if u not in stream.email_users)
    body: list[Event] = []
    for user in students:
        for activity_id in activities:
            # Progress only grows: "answered so far" and the time rise together for one learner and activity.
            minutes = sorted(rng.sample(range(-120, 1), rng.randint(0, 2)))
            answered = rng.randint(0, 2)
            for minute in minutes:
                answered += rng.randint(0, 2)
                body.append(
                    Score(user, activity_id, answered, float(rng.randrange(0, 101, 5)), float(minute), _message_id())
                )
    rng.shuffle(body)
    # Instructors set deadlines up front (half-minutes, so no work ties with a deadline)...
    deadlines: list[Event] = [Deadline(a, rng.randint(-100, 120) + 0.5) for a in activities if rng.random() < 0.4]
    _interleave(rng, stream, body)
    if stream.manual_release:
        for activity_id in activities:
            if rng.random() < 0.7:
                body.insert(rng.randint(0, len(body)), Release(activity_id))
    with_breaks: list[Event] = []
    for event in body:
        with_breaks.append(event)
        roll = rng.random()
        if roll < 0.25:
            with_breaks.append(Drain())
        elif roll < 0.3:
            with_breaks.append(Sweep())
    # Instructors set deadlines up front; half-minutes so no work ties with a deadline.
    stream.events = deadlines + with_breaks
    stream.end_minute = rng.choice([0.0, 150.0])
    return stream


def _interleave(rng: random.Random, stream: Stream, body: list[Event]) -> None:
    """Deadline changes, first launches and merge confirmations anywhere among the scores (issue 18)."""
    for activity_id in stream.activities:
        # Set, moved or cleared anywhere, also after the work they cut.
        for _ in range(rng.choice([0, 0, 1, 2])):
            minute = None if rng.random() < 0.25 else rng.randint(-100, 120) + 0.5
            body.insert(rng.randint(0, len(body)), Deadline(activity_id, minute))
    links = [*stream.activities, HOME]
    for user in stream.students:
        if rng.random() < 0.85:
            # Anywhere: a learner may first launch after the deadline and after all their work.
            body.insert(rng.randint(0, len(body)), Launch(user, rng.choice(links)))
    if stream.email_users:
        for _ in range(rng.randint(0, 2)):
            body.insert(rng.randint(0, len(body)), Confirm())


def _message_id() -> str:
    return f"m{next(_serial)}-{random.getrandbits(32):08x}"


@dataclass
class Delivery:
    """How score messages reach the queue: each up to `copies` times, shuffled within a flush."""

    rng: random.Random = field(default_factory=lambda: random.Random(0))
    copies: int = 1
    shuffle: bool = False

    def prepare(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [m for m in messages for _ in range(self.rng.randint(1, self.copies))]
        if self.shuffle:
            self.rng.shuffle(out)
        return out


@dataclass
class Scenario:
    stack: Stack
    lms: Any
    clock: Any
    stream: Stream
    delivery: Delivery = field(default_factory=Delivery)
    drain: Callable[[], None] | None = None
    context: str = ""
    course_id: str = ""
    start: datetime = field(init=False)
    release_marks: dict[str, int] = field(default_factory=dict)
    launched: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.start = self.clock.now
        self.context = f"ctx-{next(_serial)}"

    def at(self, minute: float) -> datetime:
        return self.start + timedelta(minutes=minute)

    def _drain(self) -> None:
        (self.drain or self.stack.drain)()

    # ------------------------------------------------------------------ set-up and play

    def set_up(self) -> None:
        stack, lms = self.stack, self.lms
        if not container.platforms().for_issuer(lms.issuer):
            stack.register_lti13(lms)
        lms.add_course(self.context, f"Course {self.context}")
        teacher = f"{self.context}-teacher"
        lms.add_user(teacher, name="Tess Teacher", email=f"{teacher}@example.edu", roles=["instructor"])
        lms.enroll(self.context, teacher, "instructor")
        for user in self.stream.students:
            lms.add_user(user, name=f"Student {user}", email=f"{user}@example.edu")
            if user in self.stream.roster:
                lms.enroll(self.context, user, "student")
        stack.send_messages([activity(a, f"Activity {a}", min_questions=m) for a, m in self.stream.activities.items()])
        for activity_id in self.stream.activities:
            lms.add_link(self.context, self.link(activity_id), title=activity_id, custom={"activity_id": activity_id})
        lms.add_link(self.context, self.link(HOME), title="Homepage")
        stack.drain()
        links = [*self.stream.activities, HOME]
        first = stack.launch13(lms, teacher, self.context, self.link(links[0]))
        assert first.status_code == 303, first.text[:500]
        self.course_id = first.headers["Location"].split("/gradebook/")[1].split("?")[0]
        for link in links[1:]:
            assert stack.launch13(lms, teacher, self.context, self.link(link)).status_code == 303
        policy = ReleasePolicy.MANUAL if self.stream.manual_release else ReleasePolicy.IMMEDIATE
        container.course_settings().set_policy(self.course_id, policy, None, now=self.clock.now)
        stack.drain()

    def link(self, link: str) -> str:
        return f"{self.context}-{link}"

    def play(self) -> None:
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            if pending:
                self.stack.send_messages(self.delivery.prepare(pending))
                pending.clear()
            self._drain()

        for event in self.stream.events:
            if isinstance(event, Score):
                ref = self.ref(event)
                pending.append(
                    score(ref, event.activity, event.answered, event.score, self.at(event.minute), event.message_id)
                )
            elif isinstance(event, Launch):
                if event.user in self.stream.email_users and event.user not in self.launched:
                    flush()  # the product account's work is known when its owner first launches (rule 12)
                    self.lms.enroll(self.context, event.user, "student")
                response = self.stack.launch13(self.lms, event.user, self.context, self.link(event.link))
                assert response.status_code in (200, 303), response.text[:300]
                self.launched.add(event.user)
            elif isinstance(event, Release):
                self.release_marks.setdefault(event.activity, len(self.history()))
                container.jobs().request("release", self.course_id, self.clock.now, activity_id=event.activity)
            elif isinstance(event, Deadline):
                gau = None if event.minute is None else self.at(event.minute)
                # A deadline that has passed cannot be moved: refused, and the oracle knows it too.
                with contextlib.suppress(SettingRefused):
                    container.course_settings().set_gau(self.course_id, event.activity, gau, self.clock.now)
            elif isinstance(event, Confirm):
                flush()
                self.confirm_merges()
            elif isinstance(event, Drain):
                flush()
            elif isinstance(event, Sweep):
                self.stack.sweep()
        flush()
        self.confirm_merges()  # every email learner's merge is confirmed by the end of the stream

    def ref(self, event: Score) -> dict[str, str]:
        """Who the product says did the work: an email-user's work before their first launch is
        reported by email (their product account, merged at that launch: rule 12), after it by
        their LMS identity (an LMS launch never claims an address, so later work by email would be
        another account's)."""
        if event.user in self.stream.email_users and event.user not in self.launched:
            return {"email": f"{event.user}@example.edu"}
        return {"issuer": self.lms.issuer, "user_id": event.user}

    def confirm_merges(self) -> None:
        """Every pending merge request of this course is confirmed, as its email's owner would."""
        merges = container.merges()
        for request in merges.requests.listing(10_000):
            if request.course_id != self.course_id or request.status != MergeStatus.PENDING.value:
                continue
            if merges.requests.decide(request.request_id, MergeStatus.CONFIRMED, self.clock.now):
                merges.combine(request, self.clock.now)
        self._drain()

    def finish(self) -> None:
        """The clock reaches the stream's end; the schedule runs until nothing is left to do."""
        self.clock.now = max(self.clock.now, self.at(self.stream.end_minute))
        for _ in range(2):
            self.stack.sweep()
            self._drain()

    def run(self) -> None:
        self.set_up()
        self.play()
        self.finish()

    # ------------------------------------------------------------------ what happened

    def lms_gradebook(self) -> dict[str, dict[str, float]]:
        prefix = f"{self.context}-"
        book = self.lms.gradebook().get(self.context, {})
        return {
            user: {link.removeprefix(prefix): value for link, value in row.items()} for user, row in book.items() if row
        }

    def history(self) -> list[dict[str, Any]]:
        return [s for s in self.lms.score_history() if s["context_id"] == self.context]

    def cells(self) -> dict[tuple[str, str], Any]:
        course = container.courses().get(self.course_id)
        assert course is not None
        names = {link.link_id: link.resource_link_id.removeprefix(f"{self.context}-") for link in course.links.values()}
        found: dict[tuple[str, str], Any] = {}
        for user in self.stream.students:
            learner = container.learners().by_identity(course.platform_id, user)
            if learner is None:
                continue
            for link_id, cell in container.cells().for_learner(self.course_id, learner).items():
                found[(user, names[link_id])] = cell
        return found

    # ------------------------------------------------------------------ the verdict

    def verdict(self, resting: set[str] = RESTING) -> None:
        """Nothing lost, nothing sent the oracle would not send, no cell left in between."""
        oracle = Oracle(self.stream)
        expected = oracle.gradebook()
        actual = self.lms_gradebook()
        assert _rounded(actual) == _rounded(expected), f"LMS {actual} != oracle {expected}\n{self.stream}"
        enrolled = oracle.enrolled()
        released = oracle.released()
        for index, sent in enumerate(self.history()):
            user, link = sent["user_id"], sent["resource_link_id"].removeprefix(f"{self.context}-")
            assert user in enrolled, f"sent to {user}, who is not enrolled"
            if link == HOME:
                assert released, f"a composite left before any release: {sent}"
                continue
            assert link in released, f"{link} sent before it was released: {sent}"
            assert index >= self.release_marks.get(link, 0), f"{link} sent before its release: {sent}"
            allowed = oracle.values_ever_owed(user, link)
            assert sent["score_given"] in allowed, f"{sent['score_given']} never owed for {user}/{link}: {allowed}"
        course = container.courses().get(self.course_id)
        assert course is not None
        for user in sorted(enrolled):
            # Every course grade Passback holds (released or not) is the oracle's, from the whole timeline.
            learner = container.learners().by_identity(course.platform_id, user)
            assert learner is not None
            enrollment = container.enrollments().get(self.course_id, learner, consistent=True)
            assert enrollment is not None, f"{user} should be enrolled and is not"
            for activity_id, placed in course.activities.items():
                entry = enrollment.grades.get(placed.idx)
                held = entry.value if entry is not None else None
                owed = oracle.grade(user, activity_id)
                assert held == owed, f"{user}/{activity_id}: Passback holds {held}, the oracle says {owed}"
        for (user, link), cell in self.cells().items():
            assert cell.status in resting, f"cell {user}/{link} left {cell.status!r}: {cell.message}"
            if link in expected.get(user, {}):
                assert cell.status == "synced", f"cell {user}/{link} is {cell.status!r} but owed a grade"


def _rounded(book: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {user: {link: round(value, 3) for link, value in row.items()} for user, row in book.items()}
