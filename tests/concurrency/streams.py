"""Streams for the concurrency suite and bench: many scores for few learners, played concurrently.

A stream (tests/oracle.py's events) is played against a `Cluster`: score messages go to the
queue in flushes (each message 1 to `copies` times, shuffled), and the workers take them while
the driver launches learners, queues Release Grades jobs and runs sweeps in between, without
waiting: everything overlaps. Then the queues drain, the schedule runs, and the verdict checks
the oracle's rules plus the three the send protocol promises.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from oracle import HOME, Drain, Event, Launch, Oracle, Release, Score, Stream, Sweep
from passback import container
from passback.domain.release import ReleasePolicy
from stack_harness import activity, score

_serial = itertools.count(1)


def busy_stream(
    rng: random.Random, *, students: int, activities: int, reports: tuple[int, int], manual: bool
) -> Stream:
    """Every learner reports several times on every activity; launches and releases mid-stream."""
    n = next(_serial)
    acts = {f"c{n}-a{i}": rng.randint(1, 2) for i in range(activities)}
    users = tuple(f"c{n}-s{i}" for i in range(students))
    stream = Stream(activities=acts, students=users, manual_release=manual)
    body: list[Event] = []
    for user in users:
        for activity_id in acts:
            answered = 0
            for minute in sorted(rng.sample(range(-600, 0), rng.randint(*reports))):
                answered += rng.randint(0, 2)
                body.append(Score(user, activity_id, answered, float(rng.randrange(0, 101, 5)), float(minute), _mid()))
    rng.shuffle(body)
    links = [*acts, HOME]
    for user in users:
        # Half the learners launch before their work, half in the middle of it (rule 3 and rule 9 racing scores).
        body.insert(0 if rng.random() < 0.5 else rng.randint(0, len(body)), Launch(user, rng.choice(links)))
    if manual:
        for activity_id in acts:
            body.insert(rng.randint(len(body) // 4, len(body)), Release(activity_id))
    events: list[Event] = []
    for event in body:
        events.append(event)
        roll = rng.random()
        if roll < 0.15:
            events.append(Drain())  # here: a flush to the queue, not a wait
        elif roll < 0.2:
            events.append(Sweep())
    stream.events = events
    return stream


def _mid() -> str:
    return f"m{next(_serial)}-{random.getrandbits(32):08x}"


@dataclass
class Played:
    stream: Stream
    lms: Any
    context: str
    course_id: str = ""
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    release_marks: dict[str, int] = field(default_factory=dict)
    launch_statuses: list[int] = field(default_factory=list)
    messages: int = 0

    def link(self, link: str) -> str:
        return f"{self.context}-{link}"

    def at(self, minute: float) -> datetime:
        return self.start + timedelta(minutes=minute)


def set_up(stack: Any, lms: Any, stream: Stream, wait_idle: Any) -> Played:
    played = Played(stream, lms, f"ctx-{next(_serial)}")
    if not container.platforms().for_issuer(lms.issuer):
        stack.register_lti13(lms)
    context = played.context
    lms.add_course(context, f"Course {context}")
    teacher = f"{context}-teacher"
    lms.add_user(teacher, name="Tess Teacher", email=f"{teacher}@example.edu", roles=["instructor"])
    lms.enroll(context, teacher, "instructor")
    for user in stream.students:
        lms.add_user(user, name=f"Student {user}", email=f"{user}@example.edu")
        lms.enroll(context, user, "student")
    stack.send_messages([activity(a, f"Activity {a}", min_questions=m) for a, m in stream.activities.items()])
    for activity_id in stream.activities:
        lms.add_link(context, played.link(activity_id), title=activity_id, custom={"activity_id": activity_id})
    lms.add_link(context, played.link(HOME), title="Homepage")
    wait_idle()
    links = [*stream.activities, HOME]
    first = _first_launch(stack, lms, teacher, context, played.link(links[0]))
    assert first.status_code == 303, first.text[:500]
    played.course_id = first.headers["Location"].split("/gradebook/")[1].split("?")[0]
    for link in links[1:]:
        assert stack.launch13(lms, teacher, context, played.link(link)).status_code == 303
    policy = ReleasePolicy.MANUAL if stream.manual_release else ReleasePolicy.IMMEDIATE
    container.course_settings().set_policy(played.course_id, policy, None, now=datetime.now(UTC))
    wait_idle()
    return played


def _first_launch(stack: Any, lms: Any, user: str, context: str, link: str) -> Any:
    """The course's first launch, tried again if a loaded machine makes it time out (it is idempotent)."""
    import requests

    for _ in range(2):
        try:
            return stack.launch13(lms, user, context, link)
        except requests.exceptions.Timeout:
            continue
    return stack.launch13(lms, user, context, link)


def play(stack: Any, played: Played, rng: random.Random, *, copies: int = 2) -> None:
    """Send, launch, release and sweep as the stream says, never waiting for the workers."""
    pending: list[dict[str, Any]] = []
    lms = played.lms
    lms.reset_counters()
    background = ThreadPoolExecutor(max_workers=2)  # launches and sweeps overlap the driver too
    futures = []

    def flush() -> None:
        if pending:
            out = [m for m in pending for _ in range(rng.randint(1, copies))]
            rng.shuffle(out)
            stack.send_messages(out)
            played.messages += len(out)
            pending.clear()

    def launch(user: str, link: str) -> None:
        response = stack.launch13(lms, user, played.context, played.link(link))
        played.launch_statuses.append(response.status_code)

    for event in played.stream.events:
        if isinstance(event, Score):
            ref = {"issuer": lms.issuer, "user_id": event.user}
            pending.append(
                score(ref, event.activity, event.answered, event.score, played.at(event.minute), event.message_id)
            )
        elif isinstance(event, Launch):
            flush()
            futures.append(background.submit(launch, event.user, event.link))
        elif isinstance(event, Release):
            flush()
            played.release_marks.setdefault(event.activity, len(history(played)))
            container.jobs().request("release", played.course_id, datetime.now(UTC), activity_id=event.activity)
        elif isinstance(event, Drain):
            flush()
        elif isinstance(event, Sweep):
            futures.append(background.submit(stack.sweep))
    flush()
    for future in futures:
        future.result()
    background.shutdown()


def history(played: Played) -> list[dict[str, Any]]:
    return [s for s in played.lms.score_history() if s["context_id"] == played.context]


def lms_gradebook(played: Played) -> dict[str, dict[str, float]]:
    prefix = f"{played.context}-"
    book = played.lms.gradebook().get(played.context, {})
    return {user: {k.removeprefix(prefix): v for k, v in row.items()} for user, row in book.items() if row}


def posts_per_owed_value(played: Played) -> tuple[int, int]:
    """(score POSTs the LMS received since `play` began, distinct owed values they carried per cell).

    A value counts once per run: 60, 70, 60 are three owed values; 60, 60 is one (a second POST).
    The LMS emulator serves this one course, so its counter is this course's.
    """
    runs = 0
    last: dict[tuple[str, str], float] = {}
    for sent in history(played):
        key = (sent["user_id"], sent["resource_link_id"])
        if last.get(key) != sent["score_given"]:
            runs += 1
        last[key] = sent["score_given"]
    return int(played.lms.counters["score"]), runs


def verdict(played: Played) -> None:
    """The oracle's three checks, and the send protocol's: one POST per owed value, strictly
    increasing timestamps per cell, no 5xx."""
    oracle = Oracle(played.stream)
    expected = oracle.gradebook()
    actual = lms_gradebook(played)
    assert _rounded(actual) == _rounded(expected), f"LMS {actual} != oracle {expected}"
    assert all(status < 500 for status in played.launch_statuses), played.launch_statuses
    enrolled, released = oracle.enrolled(), oracle.released()
    stamps: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for index, sent in enumerate(history(played)):
        user, link = sent["user_id"], sent["resource_link_id"].removeprefix(f"{played.context}-")
        stamps[(user, link)].append(datetime.fromisoformat(sent["timestamp"]))
        assert user in enrolled, f"sent to {user}, who never launched"
        if link == HOME:
            assert released, f"a composite left before any release: {sent}"
            continue
        assert link in released, f"{link} sent before it was released: {sent}"
        assert index >= played.release_marks.get(link, 0), f"{link} sent before its release: {sent}"
        allowed = oracle.values_ever_owed(user, link)
        assert sent["score_given"] in allowed, f"{sent['score_given']} never owed for {user}/{link}: {allowed}"
    for cell, times in stamps.items():
        assert all(a < b for a, b in itertools.pairwise(times)), f"timestamps for {cell} do not increase: {times}"
    posts, owed = posts_per_owed_value(played)
    assert posts == owed, f"{posts} POSTs for {owed} owed values"


def _rounded(book: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {user: {link: round(value, 3) for link, value in row.items()} for user, row in book.items()}
