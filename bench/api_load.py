"""Load on the HTTPS score API: products posting batches through the local stack's gateway.

    ./dev bench api_load [--small] [--messages N] [--levels 1,2,4,8,16]

In-process local stack: the real gateway on 127.0.0.1 (with its JWT authorizer), the real API
function, moto's DynamoDB and SQS, the real score function draining the queue into the LMS
emulator. At each concurrency level, that many clients post batches of ten score messages (each
with a cached access token) as fast as they are answered; the figures are accepted messages per
second while posting, and the p50/p99 latency of one POST. Then the queue is drained and every
accepted message's status is read back: each must be `applied` (or `unchanged`, an older report),
none still `accepted` and none dead-lettered.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fast_moto, local_stack, median, percentile, table

BATCH = 10


def post_all(
    base_url: str, token: str, batches: list[list[dict[str, Any]]], level: int
) -> tuple[list[float], list[str], float]:
    """Post every batch with `level` clients at once; POST latencies (ms), accepted ids, wall seconds."""
    import requests

    latencies: list[float] = []
    accepted: list[str] = []
    lock = threading.Lock()
    sessions = threading.local()

    def post(batch: list[dict[str, Any]]) -> None:
        session = getattr(sessions, "s", None)
        if session is None:
            session = sessions.s = requests.Session()
        began = time.perf_counter()
        answer = session.post(
            f"{base_url}/api/v1/messages",
            json={"messages": batch},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        elapsed = (time.perf_counter() - began) * 1000
        assert answer.status_code == 202, answer.text[:300]
        with lock:
            latencies.append(elapsed)
            accepted.extend(answer.json()["accepted"])

    began = time.perf_counter()
    with ThreadPoolExecutor(level) as pool:
        list(pool.map(post, batches))
    return latencies, accepted, time.perf_counter() - began


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="100 messages per level")
    parser.add_argument("--messages", type=int, help="messages per concurrency level")
    parser.add_argument("--levels", default="1,2,4,8,16", help="concurrency levels, comma-separated")
    args = parser.parse_args(argv)
    per_level = args.messages or (100 if args.small else 1000)
    levels = [int(x) for x in args.levels.split(",")]

    from course_setup import lti13_course
    from passback import container
    from passback.clock import utcnow
    from product_kit import register_product
    from stack_harness import score

    rows, results = [], {}
    with local_stack(platforms=1) as stacks:
        fast_moto()
        stack, lms = stacks[0].stack, stacks[0].lms
        product = register_product(stack.base_url, "bench-app", issuers=(lms.issuer,), rate=1_000_000)
        answer = product.post([{"type": "activity", "message_id": "bench-quiz", "activity_id": "quiz", "title": "Q"}])
        assert answer.status_code == 202, answer.text
        students = tuple(f"s{n:03d}" for n in range(50))
        course = lti13_course(stack, lms, students=students, activities=(("quiz", 1),), context="api-load")
        token = product.token()
        start_at = utcnow()
        counter = iter(range(10**9))
        lock = threading.Lock()
        for level in levels:
            batches = []
            for _ in range(per_level // BATCH):
                with lock:
                    batch = []
                    for _ in range(BATCH):
                        n = next(counter)
                        at = start_at + timedelta(microseconds=n)
                        batch.append(score(course.ref(students[n % len(students)]), "quiz", 1, float(n % 100), at))
                batches.append(batch)
            latencies, accepted, wall = post_all(stack.base_url, token, batches, level)
            stack.drain(max_rounds=100_000)
            statuses: dict[str, int] = {}
            for message_id in accepted:
                found = container.message_statuses().get(product.product_id, message_id)
                key = found.status if found else "missing"
                statuses[key] = statuses.get(key, 0) + 1
            processed = statuses.get("applied", 0) + statuses.get("unchanged", 0)
            rate = len(accepted) / wall if wall else 0.0
            rows.append(
                [
                    level,
                    len(accepted),
                    rate,
                    median(latencies),
                    percentile(latencies, 99),
                    processed,
                    len(accepted) - processed,
                ]
            )
            results[level] = {
                "accepted": len(accepted),
                "per_second": rate,
                "p50_ms": median(latencies),
                "p99_ms": percentile(latencies, 99),
                "statuses": statuses,
            }
            assert processed == len(accepted), f"not every accepted message was applied: {statuses}"
    table(
        "HTTPS score API on the in-process local stack (batches of 10; every accepted message then applied)",
        ["clients", "accepted", "msgs/s", "p50 ms/POST", "p99 ms/POST", "applied", "not applied"],
        rows,
    )
    return results


if __name__ == "__main__":
    main()
