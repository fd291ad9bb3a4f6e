"""DynamoDB requests and capacity per message type, and dollars per million score messages.

    ./dev bench dynamodb_cost [--small]

Counted from the SDK (botocore event hooks, see ddb_meter.py) while the in-process local stack
handles each kind of message: a score (one message per Lambda batch, the costly case) for a
learner with 1 activity and with 20, an activity message, a returning student's LTI 1.3 launch,
and a release (divided by the course's learners). Then the cost of progress's timeline (issue 18):
the progress item's size and a score message's requests and capacity for a learner whose timeline
on one activity holds 1, 20 and 200 reports (the message that makes it that many).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ddb_meter
from common import local_stack, table

# AWS list prices, us-east-1, on demand (2025): the assumptions the cost model rests on.
LAMBDA_PER_REQUEST = 0.20 / 1e6  # arm64, per invocation
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
DDB_PER_WRU = 0.625 / 1e6  # on-demand write request unit
DDB_PER_RRU = 0.125 / 1e6  # on-demand read request unit
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, per request of up to 10 messages (64 KB chunks)
MEMORY_GB = 256 / 1024  # infra/template.yaml, ScoreFunction's MemorySize (the Globals give 512)
BILLED_MS_PER_MESSAGE = 60.0  # handler work plus one LMS round trip shared by a batch; see docs/performance.md
MESSAGES_PER_BATCH = 10.0  # infra/template.yaml: the score function's SQS event source has BatchSize 10
# Per message: the product's SendMessageBatch, and Lambda's ReceiveMessage and DeleteMessageBatch,
# each carrying 10 messages.
SQS_REQUESTS_PER_MESSAGE = 3.0 / MESSAGES_PER_BATCH


def measure(run: Any) -> tuple[dict[str, int], float, float]:
    ddb_meter.METER.reset()
    run()
    calls, rru, wru = ddb_meter.METER.snapshot()
    return dict(calls), rru, wru


def dollars_per_million(rru: float, wru: float) -> dict[str, float]:
    lambda_requests = LAMBDA_PER_REQUEST / MESSAGES_PER_BATCH
    lambda_compute = MEMORY_GB * BILLED_MS_PER_MESSAGE / 1000 * LAMBDA_ARM_PER_GB_SECOND
    parts = {
        "Lambda requests": lambda_requests * 1e6,
        "Lambda GB-s": lambda_compute * 1e6,
        "DynamoDB reads": rru * DDB_PER_RRU * 1e6,
        "DynamoDB writes": wru * DDB_PER_WRU * 1e6,
        "SQS requests": SQS_REQUESTS_PER_MESSAGE * SQS_PER_REQUEST * 1e6,
    }
    parts["total"] = sum(parts.values())
    return parts


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="fewer messages per figure")
    args = parser.parse_args(argv)
    samples = 3 if args.small else 20
    learners = 5 if args.small else 20
    many = 20

    from course_setup import lti13_course
    from passback import container
    from passback.clock import utcnow
    from passback.domain.release import ReleasePolicy
    from stack_harness import activity, score

    rows: list[list[Any]] = []
    result: dict[str, Any] = {}
    with local_stack(platforms=1, install=ddb_meter.install) as stacks:
        ddb_meter.learn_indexes()
        stack, lms = stacks[0].stack, stacks[0].lms
        one = lti13_course(stack, lms, students=("ann",), activities=(("a-00", 1),), context="one")
        acts = tuple((f"b-{i:02d}", 1) for i in range(many))
        wide = lti13_course(stack, lms, students=("bob",), activities=acts, context="wide")
        at = utcnow()
        # Every activity of the wide course graded once, so the learner really has 20 grades.
        stack.send_messages([score(wide.ref("bob"), a, 1, 50.0, at) for a, _ in acts])
        stack.send_messages([score(one.ref("ann"), "a-00", 1, 50.0, at)])
        stack.drain()

        def scores(course: Any, user: str, activity_id: str) -> None:
            for n in range(samples):
                sent = at + timedelta(seconds=n + 1)
                stack.send_messages([score(course.ref(user), activity_id, n + 2, float(60 + n), sent)])
                stack.drain()

        for label, course, user, activity_id in (
            ("score, learner with 1 activity", one, "ann", "a-00"),
            (f"score, learner with {many} activities", wide, "bob", "b-07"),
        ):
            calls, rru, wru = measure(lambda c=course, u=user, a=activity_id: scores(c, u, a))
            rows.append([label, _per(calls, samples), rru / samples, wru / samples])
            result[label] = {"rru": rru / samples, "wru": wru / samples, "calls": _per(calls, samples)}

        def activities() -> None:
            for n in range(samples):
                stack.send_messages([activity(f"new-{n}", f"New {n}")])
                stack.drain()

        calls, rru, wru = measure(activities)
        rows.append(["activity message", _per(calls, samples), rru / samples, wru / samples])

        def launches() -> None:
            for _ in range(samples):
                response = stack.launch13(lms, "ann", "one", "link-a-00")
                assert response.status_code in (200, 302, 303), response.status_code

        calls, rru, wru = measure(launches)
        rows.append(["launch (returning student, 1.3)", _per(calls, samples), rru / samples, wru / samples])

        students = tuple(f"r{n:03d}" for n in range(learners))
        big = lti13_course(stack, lms, students=students, activities=(("c-00", 1),), context="rel")
        container.courses().set_policy(big.course_id, ReleasePolicy("manual"), None)
        stack.send_messages([score(big.ref(u), "c-00", 1, 70.0, at) for u in students])
        stack.drain()

        def release() -> None:
            container.jobs().request("release", big.course_id, utcnow(), activity_id="c-00")
            stack.drain()

        calls, rru, wru = measure(release)
        delivered = sum(1 for u in students if big.lms_grade(u, "link-c-00") == 70.0)
        assert delivered == learners, f"the release delivered {delivered} of {learners} grades"
        rows.append(
            [f"release, per learner (course of {learners})", _per(calls, learners), rru / learners, wru / learners]
        )

        history_rows = timeline_cost(stack, lms, at, per_size=1 if args.small else 3, result=result)

    table(
        "DynamoDB per message (counted with botocore hooks; capacity computed from item sizes)",
        ["message", "requests (by operation)", "RRU", "WRU"],
        [[r[0], _calls_text(r[1]), r[2], r[3]] for r in rows],
    )
    cost_rows = []
    for label in ("score, learner with 1 activity", f"score, learner with {many} activities"):
        parts = dollars_per_million(result[label]["rru"], result[label]["wru"])
        result[label]["dollars_per_million"] = parts["total"]
        cost_rows.append([label, *(f"${v:.3f}" for v in parts.values())])
    table(
        f"Dollars per million score messages (budget $2.50; {MESSAGES_PER_BATCH:g} message per batch, "
        f"{BILLED_MS_PER_MESSAGE:g} ms billed per message at {MEMORY_GB * 1024:.0f} MB arm64)",
        ["scenario", "Lambda requests", "Lambda GB-s", "DynamoDB reads", "DynamoDB writes", "SQS", "total"],
        cost_rows,
    )
    table(
        "A score message with the timeline: the learner's progress item on one activity holding N reports",
        ["reports", "progress item (bytes)", "requests (by operation)", "RRU", "WRU", "$ per million"],
        history_rows,
    )
    return result


HISTORY_SIZES = (1, 20, 200)


def timeline_cost(stack: Any, lms: Any, at: Any, *, per_size: int, result: dict[str, Any]) -> list[list[Any]]:
    """For each N: learners with N-1 reports on one activity; measure the message that makes it N."""
    from course_setup import lti13_course
    from passback import container
    from stack_harness import score

    students = tuple(f"h{n}-{j}" for n in HISTORY_SIZES for j in range(per_size))
    course = lti13_course(stack, lms, students=students, activities=(("h-00", 1),), context="hist")
    prefill = []
    for n in HISTORY_SIZES:
        for j in range(per_size):
            user = f"h{n}-{j}"
            prefill += [
                score(course.ref(user), "h-00", k + 1, float(k % 100), at + timedelta(seconds=k)) for k in range(n - 1)
            ]
    stack.send_messages(prefill)
    stack.drain()
    rows = []
    for n in HISTORY_SIZES:
        users = [f"h{n}-{j}" for j in range(per_size)]

        def last(users: list[str] = users, n: int = n) -> None:
            for user in users:
                stack.send_messages([score(course.ref(user), "h-00", n, 77.0, at + timedelta(seconds=n))])
                stack.drain()

        calls, rru, wru = measure(last)
        sizes = []
        for user in users:
            learner = course.learners[user]
            assert len(container.progress().get(learner, "h-00").history) == n
            raw = ddb_meter.raw_item(table_name(), {"pk": {"S": f"U#{learner}"}, "sk": {"S": "P#h-00"}})
            sizes.append(ddb_meter.item_size(raw))
        size = sum(sizes) / len(sizes)
        dollars = dollars_per_million(rru / per_size, wru / per_size)["total"]
        result[f"score, {n} reports on the activity"] = {
            "progress_bytes": size,
            "rru": rru / per_size,
            "wru": wru / per_size,
            "dollars_per_million": dollars,
        }
        rows.append(
            [n, round(size), _calls_text(_per(calls, per_size)), rru / per_size, wru / per_size, f"${dollars:.3f}"]
        )
    return rows


def table_name() -> str:
    from passback.settings import get_settings

    return str(get_settings().gradebook_table)


def _per(calls: dict[str, int], n: int) -> dict[str, float]:
    return {op: count / n for op, count in sorted(calls.items())}


def _calls_text(calls: dict[str, float]) -> str:
    if not calls:
        return "none"
    return ", ".join(f"{op} {value:g}" for op, value in calls.items())


if __name__ == "__main__":
    main()
