"""The schedule's three sweeps: deadline zeros, automatic release policies, due retries.

Each finds its work through the sparse `due` index (no scan), does a bounded amount per run
and leaves the rest for the next run. Scheduled work (a deadline's zeros, a dated release) is
queued as a course job with an id fixed by what fell due, and only then taken off the schedule
with a conditional write: a crash in between repeats the queueing, never loses it, and two
sweeps running at once queue the same job, which the release function runs once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from passback.data.cells import RETRY_SHARDS, CellRepository
from passback.data.courses import CourseRepository
from passback.domain.records import CourseRecord
from passback.observability import count, logger
from passback.services.jobs import CourseJobs, deadline_job_id
from passback.services.merges import MergeService
from passback.services.pool import run_all
from passback.services.roster import RosterService
from passback.services.sync import SyncService


@dataclass(frozen=True)
class SweepReport:
    deadlines: int
    releases: int
    retries: int
    merges: int = 0
    rosters: int = 0


class Sweeper:
    def __init__(
        self,
        courses: CourseRepository,
        cells: CellRepository,
        sync: SyncService,
        jobs: CourseJobs,
        *,
        deadline_budget: int = 50,
        release_budget: int = 50,
        retry_budget: int = 400,
        workers: int = 8,
        merges: MergeService | None = None,
        roster: RosterService | None = None,
        roster_budget: int = 20,
    ) -> None:
        self.courses = courses
        self.cells = cells
        self.sync = sync
        self.jobs = jobs
        self.deadline_budget = deadline_budget
        self.release_budget = release_budget
        self.retry_budget = retry_budget
        self.workers = workers
        self.merges = merges
        self.roster = roster
        self.roster_budget = roster_budget

    def sweep(self, now: datetime) -> SweepReport:
        report = SweepReport(
            deadlines=self.deadlines(now),
            releases=self.releases(now),
            retries=self.retries(now),
            merges=self.merges.expire_due(now) if self.merges is not None else 0,
            rosters=self.roster.queue_due(now, self.roster_budget) if self.roster is not None else 0,
        )
        logger.info(
            "sweep done",
            extra={
                "deadlines": report.deadlines,
                "releases": report.releases,
                "retries": report.retries,
                "merges": report.merges,
                "rosters": report.rosters,
            },
        )
        return report

    def deadlines(self, now: datetime) -> int:
        """Rule 7: a passed GAU gives zeros. Queued, then claimed; done by a regrade job in chunks."""
        claimed = 0
        for pk, sk, due_sk in self.courses.due("GAU", now, self.deadline_budget):
            course_id, activity_id = pk[2:], sk[3:]
            # Queue before claiming: a crash between the two leaves the deadline due for the next
            # sweep instead of losing its zeros. The job's fixed id makes a second queueing (that
            # next sweep, or one running beside this one) a no-op in the release function.
            if not self._queue(
                "regrade", course_id, now, deadline_job_id(due_sk, sk), activity_id=activity_id, why="deadline"
            ):
                continue
            if self.courses.mark_gau_applied(course_id, activity_id, due_sk, now):
                claimed += 1
                count("DeadlinesApplied")
        return claimed

    def releases(self, now: datetime) -> int:
        """Rule 8: a course whose release date has come syncs everything it now may send."""
        started = 0
        for pk, _, due_sk in self.courses.due("RELEASE", now, self.release_budget):
            course_id = pk[2:]
            # As for deadlines: queue (with a fixed id) before taking the date off the schedule.
            if not self._queue("sync", course_id, now, f"release-{_digest(due_sk, pk)}", why="release policy"):
                continue
            if self.courses.clear_release_due(course_id, due_sk):
                started += 1
        return started

    def _queue(
        self, kind: str, course_id: str, now: datetime, job_id: str, *, activity_id: str | None = None, why: str
    ) -> bool:
        try:
            self.jobs.request(kind, course_id, now, activity_id=activity_id, requested_by=why, job_id=job_id)
        except Exception as error:  # one course's failure must not stop the others
            # It stays on the schedule (not claimed), so the next sweep tries again.
            logger.error(
                "could not queue scheduled work",
                extra={"kind": kind, "course": course_id, "activity": activity_id, "error": repr(error)[:300]},
            )
            count("ScheduleQueueFailed")
            return False
        return True

    def retries(self, now: datetime) -> int:
        """Rule 10: cells whose backoff has elapsed are tried again (the latest owed value)."""
        due: list[tuple[str, str, str | None, str]] = []
        per_shard = max(1, self.retry_budget // RETRY_SHARDS)
        for shard in range(RETRY_SHARDS):
            due.extend(self.cells.due(shard, now, per_shard))
        courses: dict[str, CourseRecord | None] = {}

        def work(key: tuple[str, str, str | None, str]) -> None:
            course_id, learner_id, link_id, due_sk = key
            course = courses.get(course_id)
            if course is None:
                course = courses[course_id] = self.courses.get(course_id)
            if course is None:
                return
            if link_id is None:
                # A request path's indexed claim whose lease ended: its holder may have died.
                self.sync.sync_learner(course, learner_id, now)
                self.sync.enrollments.clear_claim_due(course_id, learner_id, due_sk)
                count("ClaimsSwept")
                return
            self.sync.sync_learner(course, learner_id, now, link_ids=[link_id])
            count("Retried")

        run_all(
            due,
            work,
            self.workers,
            on_error=lambda key, error: logger.error(
                "retry failed", extra={"cell": "/".join(str(part) for part in key[:3]), "error": repr(error)[:300]}
            ),
        )
        return len(due)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
