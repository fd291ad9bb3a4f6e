"""The schedule's three sweeps: deadline zeros, automatic release policies, due retries.

Each finds its work through the sparse `due` index (no scan), does a bounded amount per run
and leaves the rest for the next run. Deadline zeros are claimed with a conditional write, so
two sweeps running at once apply them exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from passback.data.cells import RETRY_SHARDS, CellRepository
from passback.data.courses import CourseRepository
from passback.domain.records import CourseRecord
from passback.observability import count, logger
from passback.services.jobs import CourseJobs
from passback.services.merges import MergeService
from passback.services.pool import run_all
from passback.services.sync import SyncService


@dataclass(frozen=True)
class SweepReport:
    deadlines: int
    releases: int
    retries: int
    merges: int = 0


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

    def sweep(self, now: datetime) -> SweepReport:
        report = SweepReport(
            deadlines=self.deadlines(now),
            releases=self.releases(now),
            retries=self.retries(now),
            merges=self.merges.expire_due(now) if self.merges is not None else 0,
        )
        logger.info(
            "sweep done",
            extra={
                "deadlines": report.deadlines,
                "releases": report.releases,
                "retries": report.retries,
                "merges": report.merges,
            },
        )
        return report

    def deadlines(self, now: datetime) -> int:
        """Rule 7: a passed GAU gives zeros. Claimed once, then done by a regrade job in chunks."""
        claimed = 0
        for pk, sk in self.courses.due("GAU", now, self.deadline_budget):
            course_id, activity_id = pk[2:], sk[3:]
            if self.courses.mark_gau_applied(course_id, activity_id, now):
                self.jobs.request("regrade", course_id, now, activity_id=activity_id, requested_by="deadline")
                claimed += 1
                count("DeadlinesApplied")
        return claimed

    def releases(self, now: datetime) -> int:
        """Rule 8: a course whose release date has come syncs everything it now may send."""
        started = 0
        for pk, _ in self.courses.due("RELEASE", now, self.release_budget):
            course_id = pk[2:]
            self.courses.clear_release_due(course_id)
            self.jobs.request("sync", course_id, now, requested_by="release policy")
            started += 1
        return started

    def retries(self, now: datetime) -> int:
        """Rule 10: cells whose backoff has elapsed are tried again (the latest owed value)."""
        due: list[tuple[str, str, str]] = []
        per_shard = max(1, self.retry_budget // RETRY_SHARDS)
        for shard in range(RETRY_SHARDS):
            due.extend(self.cells.due(shard, now, per_shard))
        courses: dict[str, CourseRecord | None] = {}

        def work(key: tuple[str, str, str]) -> None:
            course_id, learner_id, link_id = key
            course = courses.get(course_id)
            if course is None:
                course = courses[course_id] = self.courses.get(course_id)
            if course is not None:
                self.sync.sync_learner(course, learner_id, now, link_ids=[link_id])
                count("Retried")

        run_all(
            due,
            work,
            self.workers,
            on_error=lambda key, error: logger.error(
                "retry failed", extra={"cell": "/".join(key), "error": repr(error)[:300]}
            ),
        )
        return len(due)
