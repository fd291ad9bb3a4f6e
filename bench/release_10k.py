"""Release at scale: one activity released to 10,000 learners (issue 8 and 11, item 5).

    ./dev bench release_10k [--small] [--learners N] [--delay-ms 50]

In the in-process local stack (moto, the real release handler fed by the release queue's poller,
in chunks of 100 learners that each queue the next), against the LMS emulator answering every
score after --delay-ms, with the platform's concurrency cap at its default of 8. The lower bound
is learners x delay / 8 (62.5 s for 10,000 at 50 ms). The learners' enrollments are written
straight to the table (10,000 launches would take far longer than the release itself).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fast_moto, local_stack, table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="400 learners")
    parser.add_argument("--learners", type=int)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    learners = args.learners or (400 if args.small else 10_000)

    from course_setup import lti13_course
    from passback import container
    from passback.clock import utcnow
    from passback.data.gradebook_models import Enrollment
    from passback.domain.records import GradeEntry
    from passback.domain.release import ReleasePolicy
    from passback.settings import get_settings

    with local_stack(platforms=1) as stacks:
        fast_moto()
        stack, lms = stacks[0].stack, stacks[0].lms
        course = lti13_course(stack, lms, students=(), activities=(("final", 1),), context="huge")
        container.courses().set_policy(course.course_id, ReleasePolicy.MANUAL, None)
        record = course.record()
        idx = record.activities["final"].idx
        now = utcnow()
        users = [f"u{n:05d}" for n in range(learners)]
        with Enrollment.batch_write() as batch:
            for n, user in enumerate(users):
                lms.add_user(user, name=f"Learner {n}", email=f"{user}@example.edu")
                lms.enroll("huge", user, "student")
                batch.save(
                    Enrollment(
                        course_id=course.course_id,
                        learner_id=f"L{user}",
                        role="learner",
                        lms_user_id=user,
                        grades={str(idx): GradeEntry(float(n % 101), 1, 1).to_list()},
                        enrolled_at=now,
                        gsi1pk=f"U#L{user}",
                        gsi1sk=f"C#{course.course_id}",
                        version=1,
                    )
                )
        cap = get_settings().platform_concurrency
        lms.faults.delay_ms(args.delay_ms, target="score")
        lms.reset_counters()
        started = time.perf_counter()
        container.jobs().request("release", course.course_id, utcnow(), activity_id="final")
        stack.drain(max_rounds=learners)
        elapsed = time.perf_counter() - started
        counters = lms.counters
        book = lms.gradebook().get("huge", {})
        delivered = sum(1 for n, user in enumerate(users) if book.get(user, {}).get("link-final") == float(n % 101))
        peak = lms.max_concurrent("score")
    bound = learners * args.delay_ms / 1000 / cap
    rows = [
        [
            learners,
            f"{args.delay_ms:g} ms",
            cap,
            elapsed,
            bound,
            elapsed / bound,
            counters["score"],
            counters["token"],
            peak,
            delivered,
        ]
    ]
    table(
        "Release at scale (in-process local stack: moto, release handler, LMS emulator on 127.0.0.1)",
        [
            "learners",
            "LMS delay",
            "cap",
            "seconds",
            "lower bound s",
            "ratio to bound",
            "score POSTs",
            "token reqs",
            "peak concurrent",
            "grades in LMS",
        ],
        rows,
    )
    return {
        "learners": learners,
        "seconds": elapsed,
        "bound": bound,
        "ratio": elapsed / bound,
        "score_posts": counters["score"],
        "token_requests": counters["token"],
        "delivered": delivered,
        "peak": peak,
    }


if __name__ == "__main__":
    main()
