"""Latency: from a score message sent to the score queue to the LMS emulator's acknowledgement.

    ./dev bench latency [--small] [--messages N] [--delay-ms 0]

In-process local stack: each message is sent to the (moto) score queue, the queue's poller hands
it to the real score handler, which syncs it to the emulator (real HTTP on 127.0.0.1, answering
after --delay-ms). Messages go one at a time, so the figure is the pipeline's own latency, not
queueing; the emulator's receipt time of the score is the acknowledgement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fast_moto, local_stack, median, percentile, table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="40 messages")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    count = args.messages or (40 if args.small else 2000)

    from course_setup import lti13_course
    from passback.clock import utcnow
    from stack_harness import score

    latencies: list[float] = []
    with local_stack(platforms=1) as stacks:
        fast_moto()
        stack, lms = stacks[0].stack, stacks[0].lms
        students = tuple(f"s{n:02d}" for n in range(20))
        course = lti13_course(stack, lms, students=students, activities=(("quiz", 1),), context="lat")
        lms.faults.delay_ms(args.delay_ms, target="score")
        for n in range(count):
            user = students[n % len(students)]
            seen = len(lms.score_history())
            sent = time.time()
            stack.send_messages([score(course.ref(user), "quiz", n + 1, float(n % 100), utcnow())])
            stack.drain()
            history = lms.score_history()
            if len(history) > seen:
                latencies.append((float(history[-1]["received_at"]) - sent) * 1000)
    row = [count, len(latencies), f"{args.delay_ms:g} ms", median(latencies), percentile(latencies, 99)]
    table(
        "Score message to LMS acknowledgement (in-process local stack, one message at a time)",
        ["messages", "acknowledged", "LMS delay", "p50 ms", "p99 ms"],
        [row],
    )
    return {"messages": count, "acknowledged": len(latencies), "p50": row[3], "p99": row[4]}


if __name__ == "__main__":
    main()
