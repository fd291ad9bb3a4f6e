"""LMS requests per grade change, and token requests per platform-hour (issue 7 and 11, item 1).

A realistic workload on the in-process local stack: several LMS platforms (one LMS emulator each,
real HTTP on 127.0.0.1), a course of learners on each, and three simulated hours of bursts: a
learner answers a few questions in a row, each answer a score message for the same cell, some
messages duplicated, some repeating the last score. Every 10 simulated minutes the queue is
drained (what Lambda's SQS poller does continuously).

Then the same score messages replayed the straightforward pylti1p3 way, a new ServiceConnector
and AssignmentsGradesService per message, against the same emulators in the same run.

    ./dev bench lms_requests [--small]
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import local_stack, table

ROUND_MINUTES = 10
TOKEN_LIFETIME = 3600


@dataclass
class Workload:
    messages: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (platform, message)
    # Per cell, the owed values in message order; a value equal to the one before it is no change.
    owed: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)

    def distinct_owed_values(self) -> int:
        total = 0
        for values in self.owed.values():
            previous = None
            for value in values:
                if value != previous:
                    total += 1
                previous = value
        return total


def burst(
    rng: random.Random, user: str, issuer: str, activity: str, state: dict[str, Any], at: Any
) -> list[dict[str, Any]]:
    """A learner answering 1 to 5 questions in a row: one score message per answer."""
    from stack_harness import score

    out = []
    for step in range(rng.randint(1, 5)):
        # One answer every 20 seconds: the product's clock orders the reports (messages.md).
        when = at + timedelta(seconds=20 * step)
        answered = state["answered"] = state["answered"] + 1
        if rng.random() < 0.2 and state["score"] is not None:
            percent = state["score"]  # a product re-reporting the same score
        else:
            percent = state["score"] = float(rng.randint(0, 100))
        message = score({"issuer": issuer, "user_id": user}, activity, answered, percent, when)
        out.append(message)
        if rng.random() < 0.1:
            out.append(dict(message))  # SQS at-least-once: the same message twice
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="2 platforms x 6 learners x 1 simulated hour")
    parser.add_argument("--platforms", type=int)
    parser.add_argument("--learners", type=int, help="learners per platform")
    parser.add_argument("--hours", type=float)
    args = parser.parse_args(argv)
    platforms = args.platforms or (2 if args.small else 3)
    learners = args.learners or (6 if args.small else 40)
    hours = args.hours or (1.0 if args.small else 3.0)
    rounds = int(hours * 60 / ROUND_MINUTES)

    from course_setup import lti13_course
    from passback import clock as passback_clock

    rng = random.Random(11)
    fake = _Clock()
    passback_clock.set_clock(fake)
    try:
        with local_stack(platforms=platforms, token_lifetime=TOKEN_LIFETIME, clock=fake.epoch) as stacks:
            stack = stacks[0].stack
            courses = []
            for p, local in enumerate(stacks):
                students = tuple(f"s{p}-{n:03d}" for n in range(learners))
                courses.append(
                    lti13_course(stack, local.lms, students=students, activities=(("quiz-1", 1), ("quiz-2", 1)))
                )
            for local in stacks:
                local.lms.reset_counters()
            work = Workload()
            states: dict[tuple[int, str, str], dict[str, Any]] = {}
            for _ in range(rounds):
                batch: list[dict[str, Any]] = []
                for p, course in enumerate(courses):
                    for user in course.learners:
                        if rng.random() > 0.3:
                            continue
                        activity = rng.choice(("quiz-1", "quiz-2"))
                        key = (p, user, activity)
                        state = states.setdefault(key, {"answered": 0, "score": None})
                        for message in burst(rng, user, course.lms.issuer, activity, state, fake.now):
                            batch.append(message)
                            work.messages.append((p, message))
                            work.owed.setdefault(key, []).append(message["score"])
                rng.shuffle(batch)
                stack.send_messages(batch)
                stack.drain()
                fake.advance(minutes=ROUND_MINUTES)
            ours = [dict(local.lms.counters) for local in stacks]
            # Fewer POSTs only count if the LMS ends up with every cell's latest value.
            correct = sum(
                courses[p].lms_grade(user, f"link-{activity}") == values[-1]
                for (p, user, activity), values in work.owed.items()
            )
            print(f"cells whose LMS value is the latest owed value: {correct} of {len(work.owed)}")

            # The straightforward pattern, same messages, same emulators. pylti1p3 signs its
            # assertions on the wall clock, so the emulators go back to it; the scores keep
            # timestamps later than Passback's so the LMS accepts them.
            scores_from = fake.now + timedelta(minutes=1)
            fake.now = datetime.now(UTC)
            for local in stacks:
                local.lms.reset_counters()
            naive_replay(stacks, courses, work, scores_from)
            theirs = [dict(local.lms.counters) for local in stacks]
    finally:
        passback_clock.set_clock(None)

    changes = work.distinct_owed_values()
    messages = len(work.messages)
    result: dict[str, Any] = {
        "messages": messages,
        "distinct_owed_values": changes,
        "hours": hours,
        "cells": len(work.owed),
        "cells_correct": correct,
    }
    rows = []
    for name, counters in (("Passback", ours), ("pylti1p3, a connector per message", theirs)):
        posts = sum(c["score"] for c in counters)
        tokens = sum(c["token"] for c in counters)
        per_platform_hour = tokens / platforms / hours
        rows.append(
            [
                name,
                messages,
                changes,
                posts,
                posts / changes,
                posts / messages,
                tokens,
                per_platform_hour,
                tokens / platforms / (hours * 3600 / TOKEN_LIFETIME),
            ]
        )
        result[name] = {"score_posts": posts, "token_requests": tokens, "tokens_per_platform_hour": per_platform_hour}
    table(
        f"LMS requests: {platforms} platforms x {learners} learners, {hours:g} simulated hours, "
        f"bursts every {ROUND_MINUTES} min, token lifetime {TOKEN_LIFETIME} s",
        [
            "pattern",
            "score msgs",
            "distinct owed values",
            "score POSTs",
            "POSTs / owed value (budget 1.0)",
            "POSTs / msg",
            "token reqs",
            "tokens / platform-hour",
            "tokens / platform / lifetime (budget 1.0)",
        ],
        rows,
    )
    return result


class _Clock:
    """Simulated time for Passback (passback.clock) and the emulators alike, hours in seconds."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> Any:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def naive_replay(stacks: list[Any], courses: list[Any], work: Workload, scores_from: datetime) -> None:
    """What many tools do: per score message, a new pylti1p3 connector (so a new token) and a POST."""
    import requests
    from pylti1p3.assignments_grades import AssignmentsGradesService
    from pylti1p3.exception import LtiException
    from pylti1p3.grade import Grade
    from pylti1p3.service_connector import ServiceConnector
    from pylti1p3.tool_config import ToolConfDict

    from passback import container
    from passback.lms.ags import SCORE_SCOPE

    key = container.tool_keys().signing_key().private_key
    from cryptography.hazmat.primitives import serialization

    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    registrations = []
    for local in stacks:
        config = local.lms.platform_config("passback-tool")
        conf = ToolConfDict(
            {
                config["issuer"]: [
                    {
                        "default": True,
                        "client_id": "passback-tool",
                        "auth_login_url": config["login_url"],
                        "auth_token_url": config["token_url"],
                        "key_set_url": config["jwks_url"],
                        "deployment_ids": ["deployment-1"],
                    }
                ]
            }
        )
        conf.set_private_key(config["issuer"], private_pem, client_id="passback-tool")
        conf.set_public_key(config["issuer"], public_pem, client_id="passback-tool")
        registrations.append(conf.find_registration_by_params(config["issuer"], "passback-tool"))
    line_items = {}
    for p, course in enumerate(courses):
        for link in course.record().links.values():
            line_items[(p, link.activity_id)] = link.line_item_url
    refusals: list[str] = []
    for n, (p, message) in enumerate(work.messages):
        session = _TimeoutSession()  # pylti1p3 sets no timeout; this run must not hang, so we add one
        connector = ServiceConnector(registrations[p], requests_session=session)
        service = AssignmentsGradesService(
            connector, {"scope": [SCORE_SCOPE], "lineitem": line_items[(p, message["activity_id"])]}
        )
        at = scores_from + timedelta(seconds=n)
        grade = (
            Grade()
            .set_score_given(message["score"])
            .set_score_maximum(100)
            .set_activity_progress("Submitted")
            .set_grading_progress("FullyGraded")
            .set_timestamp(at.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
            .set_user_id(message["learner"]["user_id"])
        )
        try:
            service.put_grade(grade)
        except (requests.RequestException, LtiException) as error:
            # A refused score still cost its requests, which is what is counted.
            refusals.append(str(error)[:200])
        session.close()
    if refusals:
        print(f"pylti1p3 pattern: {len(refusals)} refused, first: {refusals[0]}", file=sys.stderr)


def _TimeoutSession() -> Any:
    import requests

    class Session(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("timeout", 10)
            return super().request(*args, **kwargs)

    return Session()


if __name__ == "__main__":
    main()
