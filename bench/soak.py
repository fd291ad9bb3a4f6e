"""Soak: push many score messages through the local stack and check every grade arrived.

    .venv/bin/python bench/soak.py [--messages 100000] [--learners 200] [--chunk 1000]

The stack is the in-process one the tests use (moto for DynamoDB/SQS, the real handlers and
pollers, the LMS emulator on 127.0.0.1): bounded, loopback only, and it stops by itself. It
prints RSS after every chunk, then the final check: each learner's LMS grade is the last score
sent for them. Exits 1 when a grade is missing or wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=1000)
    args = parser.parse_args()

    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    import logging

    import pytest

    from passback.emulator import LmsEmulator

    logging.getLogger("passback").setLevel(logging.WARNING)
    sys.path.insert(0, str(ROOT / "bench"))
    from common import fast_moto
    from course_setup import lti13_course
    from stack_harness import running_stack, score

    with pytest.MonkeyPatch.context() as env, LmsEmulator(mode="canvas") as lms, running_stack(env) as stack:
        fast_moto()  # moto's response serializer, not Passback, would otherwise dominate (see bench/common.py)
        users = tuple(f"s{i}" for i in range(args.learners))
        started = time.perf_counter()
        course = lti13_course(stack, lms, students=users, activities=(("soak-quiz", 1),))
        print(f"set up {len(users)} learners in {time.perf_counter() - started:.1f} s, RSS {rss_mb():.0f} MB")
        base = datetime.now(UTC) - timedelta(days=1)
        last: dict[str, float] = {}
        started = time.perf_counter()
        sent = 0
        print("messages  elapsed_s  msgs_per_s  rss_mb")
        while sent < args.messages:
            batch = []
            for i in range(sent, min(sent + args.chunk, args.messages)):
                user = users[i % len(users)]
                value = float((i * 37) % 101)
                at = base + timedelta(seconds=i)
                batch.append(score(course.ref(user), "soak-quiz", 1 + i // len(users), value, at))
                last[user] = value
            stack.send_messages(batch)
            stack.drain(max_rounds=100_000)
            sent += len(batch)
            elapsed = time.perf_counter() - started
            print(f"{sent:8d}  {elapsed:9.1f}  {sent / elapsed:10.1f}  {rss_mb():6.0f}", flush=True)
        book = {u: course.lms_grade(u, "link-soak-quiz") for u in last}
        wrong = {u: (book[u], v) for u, v in last.items() if book[u] != v}
        dead = stack.dead_letters()
        print(f"done: {sent} messages, {len(last)} learners, {len(wrong)} wrong or missing, {len(dead)} dead letters")
        return 1 if wrong or dead else 0


if __name__ == "__main__":
    sys.exit(main())
