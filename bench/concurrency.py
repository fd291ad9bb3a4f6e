"""Many workers, one learner: throughput and exactness with 1, 2, 4 and 8 worker processes.

    ./dev bench concurrency [--small] [--workers 1,2,4,8] [--messages N] [--learners N]

For each worker count: one moto server, that many worker processes (tests/concurrency/worker.py:
the score and release handlers polling the same queues, like Lambda instances), the LMS
emulator in Moodle mode (timestamps must strictly increase) answering each score POST after a
random 0 to 300 ms. One course of `--learners` learners and two activities plus a homepage link;
`--messages` score messages (each learner's reports on each activity in increasing time, 10 %
sent twice, all shuffled) are queued at once and the clock runs until the queues are empty.

Prints messages per second, POSTs per owed value (a value counted once per run of equal values
on a cell), grades lost (LMS cells that do not hold the latest owed value: must be 0), timestamps
out of order (must be 0) and the score-to-LMS latency of each message: from its send to the
first moment the LMS held, for that cell, its value or a newer report's. All messages are queued
at once, so the latency includes the wait in the backlog.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "concurrency"))

from common import median, percentile, table


def run_one(workers: int, messages: int, learners: int, seed: int) -> dict[str, Any]:
    import pytest
    from cluster import cluster
    from streams import lms_gradebook, posts_per_owed_value, set_up

    from oracle import HOME, Launch, Oracle, Score, Stream
    from passback.emulator import LmsEmulator
    from stack_harness import score

    rng = random.Random(seed)
    activities = {f"w{workers}-a0": 1, f"w{workers}-a1": 1}
    users = tuple(f"w{workers}-s{i:03d}" for i in range(learners))
    stream = Stream(activities=activities, students=users, manual_release=False)
    per_cell = max(1, messages // (learners * len(activities)))
    reports: list[Score] = []
    for user in users:
        for activity_id in activities:
            minutes = sorted(rng.sample(range(-10_000, 0), per_cell))
            reports.extend(
                Score(user, activity_id, n + 1, float(rng.randrange(0, 101)), float(m), f"{user}-{activity_id}-{n}")
                for n, m in enumerate(minutes)
            )
    stream.events = [Launch(user, rng.choice([*activities, HOME])) for user in users]
    stream.events.extend(reports)
    with (
        tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp,
        pytest.MonkeyPatch.context() as env,
        cluster(env, Path(tmp), processes=workers) as made,
        LmsEmulator(mode="moodle") as lms,
    ):
        played = set_up(made.stack, lms, stream, made.wait_idle)
        for event in stream.events:
            if isinstance(event, Launch):
                response = made.stack.launch13(lms, event.user, played.context, played.link(event.link))
                assert response.status_code in (200, 303), response.status_code
        made.wait_idle(timeout=600)
        lms.faults.jitter_ms(0, 300, target="score", seed=seed)
        lms.reset_counters()
        ref = {u: {"issuer": lms.issuer, "user_id": u} for u in users}
        bodies = [
            score(ref[r.user], r.activity, r.answered, r.score, played.at(r.minute), r.message_id) for r in reports
        ]
        bodies += rng.sample(bodies, len(bodies) // 10)  # duplicates: SQS is at-least-once, products retry
        rng.shuffle(bodies)
        started = time.monotonic()
        sent_at: dict[str, float] = {}
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            made.stack.send_messages(chunk)
            now = time.time()
            for body in chunk:
                sent_at.setdefault(body["message_id"], now)
        made.wait_idle(timeout=3600)
        elapsed = time.monotonic() - started
        posts, owed = posts_per_owed_value(played)
        expected = Oracle(stream).gradebook()
        actual = lms_gradebook(played)
        lost = sum(
            1
            for user, row in expected.items()
            for link, value in row.items()
            if round(actual.get(user, {}).get(link, -1.0), 3) != round(value, 3)
        )
        history = [s for s in lms.score_history() if s["context_id"] == played.context]
        disorder = 0
        last: dict[tuple[str, str], datetime] = {}
        for sent in history:
            key = (sent["user_id"], sent["resource_link_id"])
            stamp = datetime.fromisoformat(sent["timestamp"])
            disorder += key in last and stamp <= last[key]
            last[key] = stamp
        latencies = _latencies(reports, sent_at, history, played)
        made.stop()
        failed = sum(r.get("failed", 0) for r in made.results)
    return {
        "workers": workers,
        "messages": len(bodies),
        "seconds": elapsed,
        "rate": len(bodies) / elapsed,
        "posts_per_owed": posts / owed if owed else float("nan"),
        "lost": lost,
        "disorder": disorder,
        "p50": median(latencies),
        "p99": percentile(latencies, 99),
        "failed_batches": failed,
    }


def _latencies(
    reports: list[Any], sent_at: dict[str, float], history: list[dict[str, Any]], played: Any
) -> list[float]:
    """Per message: seconds from its send until its cell in the LMS held it or a newer report's value."""
    arrivals: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for sent in history:
        link = sent["resource_link_id"].removeprefix(f"{played.context}-")
        arrivals.setdefault((sent["user_id"], link), []).append((sent["received_at"], sent["score_given"]))
    by_cell: dict[tuple[str, str], list[Any]] = {}
    for report in reports:
        by_cell.setdefault((report.user, report.activity), []).append(report)
    out: list[float] = []
    for cell, cell_reports in by_cell.items():
        ordered = sorted(cell_reports, key=lambda r: r.minute)
        landed = arrivals.get(cell, [])
        for index, report in enumerate(ordered):
            newer_values = {r.score for r in ordered[index:]}
            start = sent_at.get(report.message_id)
            if start is None:
                continue
            # The first arrival after the send carrying this report's value or a newer one's.
            when = next((at for at, value in landed if at >= start and value in newer_values), None)
            if when is not None:
                out.append((when - start) * 1000)
    return out


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="400 messages over 20 learners, 1 and 2 workers")
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default 1,2,4,8)")
    parser.add_argument("--messages", type=int, default=None, help="score messages per run (default 2000)")
    parser.add_argument("--learners", type=int, default=None, help="learners in the course (default 50)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    try:
        counts = [int(w) for w in (args.workers or ("1,2" if args.small else "1,2,4,8")).split(",")]
    except ValueError:
        parser.error("--workers takes comma-separated whole numbers, e.g. 1,2,4,8")
    if any(c < 1 for c in counts):
        parser.error("--workers must all be at least 1")
    messages = args.messages or (400 if args.small else 2000)
    learners = args.learners or (20 if args.small else 50)
    rows = []
    for workers in counts:
        print(f"{workers} worker process(es): {messages} messages over {learners} learners...", flush=True)
        rows.append(run_one(workers, messages, learners, args.seed))
        row = rows[-1]
        print(f"  done in {row['seconds']:.1f} s, {row['lost']} grades lost", flush=True)
    table(
        f"Concurrency: {messages} score messages (+10 % duplicates) over {learners} learners, "
        "Moodle-mode LMS answering in 0-300 ms",
        [
            "workers",
            "messages",
            "msgs/s",
            "POSTs per owed value",
            "grades lost",
            "timestamps out of order",
            "p50 ms",
            "p99 ms",
            "batches retried",
        ],
        [
            [
                r["workers"],
                r["messages"],
                r["rate"],
                r["posts_per_owed"],
                r["lost"],
                r["disorder"],
                r["p50"],
                r["p99"],
                r["failed_batches"],
            ]
            for r in rows
        ],
    )
    if any(r["lost"] or r["disorder"] for r in rows):
        print("FAILED: grades lost or timestamps out of order", file=sys.stderr)
        sys.exit(1)
    return rows


if __name__ == "__main__":
    main()
