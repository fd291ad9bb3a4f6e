"""Course jobs: release, resync, regrade and sync many cells of one course, in resumable chunks.

A job names a course and optionally an activity, a learner or a link. Without a learner it walks
the course's enrollments one page per message: each chunk syncs its learners and then queues the
next page. A crash re-runs one chunk, and a chunk repeats nothing the LMS already has, because
the sync routine skips a cell whose LMS value equals what it owes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.domain.records import CourseRecord, EnrollmentRecord
from passback.messages import CourseJob
from passback.observability import count, logger
from passback.queues import Queues
from passback.services.grades import CourseGrades
from passback.services.pool import run_all
from passback.services.sync import SyncService

CHUNK = 100


def deadline_job_id(due_sk: str, activity_sk: str) -> str:
    """The regrade job of one deadline, named by its `due` index entry: the sweep and a deadline set in
    the past queue the same id, so the release function runs it once."""
    return "gau-" + hashlib.sha256(f"{due_sk}\n{activity_sk}".encode()).hexdigest()[:32]


class CourseNotFound(Exception):
    pass


class CourseJobs:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        grades: CourseGrades,
        sync: SyncService,
        queues: Queues,
        *,
        workers: int = 8,
        chunk: int = CHUNK,
    ) -> None:
        self.courses = courses
        self.enrollments = enrollments
        self.grades = grades
        self.sync = sync
        self.queues = queues
        self.workers = workers
        self.chunk = chunk
        # Job kinds run by another service (the roster read), registered by the container.
        self.runners: dict[str, JobRunner] = {}

    def request(
        self,
        kind: str,
        course_id: str,
        now: datetime,
        *,
        activity_id: str | None = None,
        learner_id: str | None = None,
        link_id: str | None = None,
        requested_by: str | None = None,
        job_id: str | None = None,
    ) -> CourseJob:
        """Queue a job. A caller that may queue the same work twice names it with a fixed `job_id`:
        the release function runs each (job id, chunk) once, so the second is a no-op."""
        job = CourseJob(
            job_id=job_id or uuid.uuid4().hex,
            kind=kind,  # type: ignore[arg-type]
            course_id=course_id,
            activity_id=activity_id,
            learner_id=learner_id,
            link_id=link_id,
            requested_by=requested_by,
            requested_at=now,
        )
        self.queues.send_job(job)
        logger.info(
            "course job queued",
            extra={
                "job": job.job_id,
                "kind": kind,
                "course": course_id,
                "activity": activity_id,
                "learner": learner_id,
                "link": link_id,
            },
        )
        return job

    def run(self, job: CourseJob, now: datetime) -> int:
        """Run one chunk of a job; returns how many learners it synced."""
        runner = self.runners.get(job.kind)
        if runner is not None:
            return runner(job, now)
        # Consistent: a job is queued right after the course write it exists for (a release, a deadline
        # closed now, a policy or zero-fill change), and an eventually consistent read may not show it yet.
        # Its chunks decide on this course: a cell already "not released" stays so, a homepage composite
        # is "unchanged", a regrade gives no zeros, and nobody else does it (the sweep's copy of a deadline
        # job has the same id). One consistent Query per chunk.
        course = self.courses.get(job.course_id, consistent=True)
        if course is None:
            raise CourseNotFound(f"course {job.course_id} does not exist")
        if job.kind == "release" and job.activity_id and job.chunk == 0:
            if job.activity_id not in course.activities:
                raise CourseNotFound(f"activity {job.activity_id} is not assigned in course {job.course_id}")
            if self.courses.mark_released(job.course_id, job.activity_id, now):
                count("Released")
            course = self.courses.get(job.course_id, consistent=True) or course
        if job.learner_id is not None:
            # Consistent too: a launch queues this right after writing the enrollment (created, reopened),
            # and this job is what sends its grades (rule 9).
            enrollment = self.enrollments.get(job.course_id, job.learner_id, consistent=True)
            learners = [enrollment] if enrollment is not None else []
            cursor = None
        else:
            learners, cursor = self.enrollments.page(job.course_id, job.cursor, self.chunk)
        self._run_chunk(job, course, learners, now)
        if cursor:
            self.queues.send_job(job.model_copy(update={"cursor": cursor, "chunk": job.chunk + 1}))
        return len(learners)

    def _run_chunk(self, job: CourseJob, course: CourseRecord, learners: list[EnrollmentRecord], now: datetime) -> None:
        link_ids = self._links(job, course)
        forced = job.kind == "resync"
        # Request paths (a launch's sync, a gradebook or CLI resync) index their claims: if the
        # sender dies mid-send, the sweep takes the cell over at the lease end (docs/architecture.md).
        indexed = job.kind in ("sync", "resync")
        regrade = job.kind == "regrade"
        failures: list[tuple[Any, Exception]] = []
        # One Query for the whole chunk's cells instead of one per learner (regrade and single-learner
        # jobs too: the cells of a learner are the same range either way).
        cells = self.sync.cells.for_learners(course.course_id, [e.learner_id for e in learners if not e.is_instructor])

        def work(enrollment: EnrollmentRecord) -> None:
            if enrollment.is_instructor:
                return
            current = enrollment
            if regrade:
                current = (
                    self.grades.regrade(course, enrollment.learner_id, now, activity_id=job.activity_id) or enrollment
                )
            self.sync.sync_learner(
                course,
                enrollment.learner_id,
                now,
                link_ids=link_ids,
                forced=forced,
                enrollment=current,
                cells=cells.get(enrollment.learner_id),
                indexed=indexed,
            )

        run_all(learners, work, self.workers, on_error=lambda item, error: failures.append((item, error)))
        if failures:
            # Some learners of this chunk failed (the table, not the LMS: LMS failures are cell state).
            # Fail the message so SQS runs the chunk again; the learners already synced are skipped.
            first = failures[0][1]
            raise RuntimeError(f"{len(failures)} learners of chunk {job.chunk} failed; first: {first!r}") from first

    @staticmethod
    def _links(job: CourseJob, course: CourseRecord) -> list[str] | None:
        if job.link_id is not None:
            return [job.link_id]
        if job.activity_id is not None:
            links = course.links_for_activity(job.activity_id) + course.homepage_links()
            return [link.link_id for link in links]
        return None


JobRunner = Callable[[CourseJob, datetime], int]


# Two weeks: the release queue's retention, so a duplicate delivered late is still recognised
# (powertools' default of one hour is shorter than SQS's redelivery horizon).
IDEMPOTENCY_SECONDS = 14 * 24 * 3600


def run_once(jobs: CourseJobs, job: CourseJob, now: datetime, persistence: Any, lambda_context: Any = None) -> int:
    """Run a job chunk at most once per (job id, chunk), with powertools' idempotency utility.

    A duplicate SQS delivery of a chunk would otherwise queue its continuation twice and walk
    the rest of the course twice; the stored result short-circuits it.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath="[job_id, to_string(chunk)]",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="chunk", persistence_store=persistence, config=config
    )
    def run(chunk: dict[str, Any]) -> int:
        return jobs.run(CourseJob.model_validate(chunk), now)

    return int(run(chunk=job.model_dump(mode="json")))
