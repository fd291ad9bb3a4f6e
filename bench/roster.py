"""The course roster (NRPS) of a 5,000-member course: requests (pages) and DynamoDB writes per read.

A course on the in-process local stack whose LMS (the emulator, real HTTP on 127.0.0.1) lists 5,000
students none of whom launched. Three reads, each what the `roster` course job runs:

1. the first read: every member is new (a learner, an identity and an enrollment each);
2. the same roster again: nothing changed, so nothing may be written;
3. after 50 changes in the LMS (20 inactive, 20 dropped, 10 new): writes for those 50 only.

    ./dev bench roster [--small] [--members N] [--page-cap N]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fast_moto, fast_moto_queries, local_stack, table

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "BatchGetItem"}


@contextmanager
def dynamodb_counts() -> Iterator[Counter[str]]:
    import botocore.client

    counts: Counter[str] = Counter()
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name != "dynamodb":
            return original(self, operation, params)
        # One call at a time, as DynamoDB applies each atomically: moto's in-process backend is not
        # thread-safe (a GSI Query iterating the table while a parallel add inserts a partition fails).
        with lock:
            counts["writes" if operation in WRITES else "reads" if operation in READS else "other"] += 1
            return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="500 members (a quick check)")
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--page-cap", type=int, default=1000, help="the most members the LMS puts on one page")
    args = parser.parse_args()
    members = 500 if args.small else args.members

    from passback import container
    from passback.clock import utcnow
    from stack_harness import activity

    with local_stack() as stacks:
        fast_moto()
        fast_moto_queries()
        stack, lms = stacks[0].stack, stacks[0].lms
        lms.lms.state.nrps_page_cap = args.page_cap
        context = "big-course"
        lms.add_course(context, "Biology 101 (large)")
        lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
        lms.enroll(context, "teacher", "instructor")
        lms.add_link(context, "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})
        stack.send_messages([activity("quiz-1", "Quiz 1", min_questions=1)])
        stack.drain()
        import requests

        from stack_harness import CLIENT_ID

        # A long timeout: the first launch imports the launch function (slow on a loaded machine).
        response = lms.lti13_launch(requests.Session(), CLIENT_ID, "teacher", context, "quiz-link", timeout=120)
        course_id = response.headers["Location"].split("/gradebook/")[1].split("?")[0]
        stack.drain()  # the first instructor launch's read (the teacher alone)
        with lms.lms.state.lock:
            for n in range(members):
                user = f"s{n:05d}"
                lms.lms.state.add_user(user, name=f"Student {n}", email=f"{user}@example.edu", roles=["student"])
                lms.lms.state.enrollments[context][user] = "student"
        roster = container.roster()
        rows: list[list[str]] = []

        def read(label: str) -> None:
            lms.reset_counters()
            with dynamodb_counts() as counts:
                started = time.perf_counter()
                report = roster.sync(course_id, utcnow())
                seconds = time.perf_counter() - started
            rows.append(
                [
                    label,
                    str(report.members),
                    str(lms.counters.get("memberships", 0)),
                    str(lms.counters.get("token", 0)),
                    str(report.added),
                    str(report.status_changed),
                    str(counts["writes"]),
                    str(counts["reads"]),
                    f"{seconds:.1f}",
                ]
            )

        read("first read (all new)")
        read("same roster again")
        for n in range(20):
            lms.set_member_status(context, f"s{n:05d}", active=False)
        for n in range(20, 40):
            lms.drop(context, f"s{n:05d}")
        for n in range(10):
            user = f"late{n}"
            lms.add_user(user, name=f"Late {n}", email=f"{user}@example.edu")
            lms.enroll(context, user, "student")
        read("after 50 changes")
        read("same roster again")
        print(
            table(
                f"Roster reads of a {members}-member course (NRPS, page cap {args.page_cap})",
                ["read", "members", "NRPS requests", "token requests", "added", "status changed",
                 "DynamoDB writes", "DynamoDB reads", "seconds"],
                rows,
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()
