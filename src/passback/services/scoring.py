"""The score pipeline: product messages become grades, exactly once and in order (rules 3 to 7).

A batch is applied in two phases. First each message on its own (powertools' batch processor:
one bad message fails alone): progress is updated with a conditional write and the course
grades derived from it are stored on the enrollments. Then every learner the batch touched is
synced once, so a burst of updates to one cell sends its latest value, not each step.

Duplicates and late messages change nothing (progress keeps order-independent aggregates),
but the second phase still runs for them, so a crash between writing a grade and sending it
is repaired by the redelivery.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from passback.clock import from_epoch, queue_received_at
from passback.data.catalog import ActivityRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.errors import Conflict
from passback.data.learners import LearnerRepository
from passback.data.products import MessageStatuses
from passback.data.progress import ProgressRepository
from passback.domain.clocks import DEFAULT_SKEW, future_report_refusal
from passback.domain.grading import grade_from_timeline
from passback.domain.progress import ScoreReport, progress_belongs_to_the_learner
from passback.domain.records import CellRecord, ClaimEntry, CourseRecord, EnrollmentRecord, GradeEntry
from passback.ids import platform_id, platform_key_lti11, platform_key_lti13
from passback.messages import ActivityMessage, LearnerRef, ScoreMessage, parse_product_message
from passback.observability import count, logger
from passback.queues import PRODUCT_ATTRIBUTE, Queues
from passback.services.grades import CourseGrades, settle
from passback.services.pool import run_all
from passback.services.refusals import RefusalNotices
from passback.services.sync import SyncService

# An activity unknown on first delivery may still be on its way; give up after this many receives.
UNKNOWN_ACTIVITY_RECEIVES = 3
_RACES = 8


class PermanentMessageError(Exception):
    """This message can never succeed: it goes to the dead-letter queue with this reason."""

    reason = "invalid"


class UnknownLearner(PermanentMessageError):
    reason = "unknown learner"


class FutureReport(PermanentMessageError):
    """Dated too far after the queue received it: it would be the newest report forever."""

    reason = "occurred_at in the future"


class NotThisProductsLearner(PermanentMessageError):
    """An email-form message for an address another product vouched for (docs/merges.md)."""

    reason = "not this product's learner"


class UnknownActivity(Exception):
    """Not (yet) in the catalog: retried a few times, then dead-lettered."""

    reason = "unknown activity"


@dataclass(frozen=True)
class Applied:
    """What one message changed: the learner, and the courses whose grades for them may differ."""

    learner_id: str | None = None
    course_ids: frozenset[str] = frozenset()
    # The enrollments as this message left them, so the sync need not read them again.
    enrollments: tuple[EnrollmentRecord, ...] = ()
    # False when the report was older than the one kept, or a duplicate (the API's "unchanged").
    changed: bool = True


@dataclass
class BatchResult:
    touched: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    origins: dict[tuple[str, str], datetime] = field(default_factory=dict)
    enrollments: dict[tuple[str, str], EnrollmentRecord] = field(default_factory=dict)
    # The send protocol, per (course, learner): the cells read before the batch's first grade write
    # (consistently), and the claims the batch took with its grade writes (its sync sends under them).
    cells: dict[tuple[str, str], dict[str, CellRecord]] = field(default_factory=dict)
    held: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def keep(self, enrollment: EnrollmentRecord) -> None:
        """The newest record of an enrollment the batch wrote or read (a duplicate's read may be older)."""
        key = (enrollment.course_id, enrollment.learner_id)
        known = self.enrollments.get(key)
        if known is None or (enrollment.version or 0) >= (known.version or 0):
            self.enrollments[key] = enrollment


class ScoringService:
    def __init__(
        self,
        catalog: ActivityRepository,
        learners: LearnerRepository,
        progress: ProgressRepository,
        enrollments: EnrollmentRepository,
        courses: CourseRepository,
        sync: SyncService,
        queues: Queues,
        *,
        workers: int = 8,
        statuses: MessageStatuses | None = None,
        clock_skew: timedelta = DEFAULT_SKEW,
        grades: CourseGrades | None = None,
        refusals: RefusalNotices | None = None,
    ) -> None:
        self.grades = grades or CourseGrades(progress, enrollments, catalog, courses)
        self.catalog = catalog
        self.learners = learners
        self.progress = progress
        self.enrollments = enrollments
        self.courses = courses
        self.sync = sync
        self.queues = queues
        self.workers = workers
        self.statuses = statuses
        self.clock_skew = clock_skew
        # Tells instructors about a report refused for its date (services/refusals.py).
        self.refusals = refusals

    # ------------------------------------------------------------------ one message

    def apply(
        self,
        message: ScoreMessage | ActivityMessage,
        now: datetime,
        course_cache: dict[str, Any],
        product_id: str | None = None,
        received_at: datetime | None = None,
        batch: BatchResult | None = None,
    ) -> Applied:
        """Apply one message; says which learner and courses it may have changed.

        `received_at`: when the queue (or the API) received it, on `now`'s clock (default: now).
        `batch`: the batch this message belongs to, whose sync follows: its grade writes then also
        claim the cells they make owe a new value (none without it: nobody would send under them).
        """
        if isinstance(message, ActivityMessage):
            self.catalog.put(
                activity_id=message.activity_id,
                title=message.title,
                min_questions=message.min_questions,
                product_url=str(message.product_url) if message.product_url else None,
                now=now,
            )
            count("ActivitiesApplied")
            return Applied()
        refusal = future_report_refusal(message.occurred_at, received_at or now, self.clock_skew)
        if refusal is not None:
            count("ScoresFromTheFuture")
            if self.refusals is not None:
                self.refusals.record(message, received_at=received_at or now, now=now, product_id=product_id)
            raise FutureReport(refusal)
        return self.apply_score(message, now, course_cache, product_id, batch)

    def learner_for(self, ref: LearnerRef, now: datetime, product_id: str | None = None) -> str:
        if ref.learner_id is not None:
            learner = self.learners.get(ref.learner_id)
            if learner is None:
                raise UnknownLearner(f"no learner has the id {ref.learner_id!r}")
            # A product may still hold the id a launch gave it before an account merge (rule 12).
            return str(learner.merged_into or ref.learner_id)
        if ref.email is not None:
            # Only a product vouches for an address (an LMS launch never claims one): the account is
            # the product's own, and an address another product vouched for is not its to use.
            claim = self.learners.email_claim(ref.email)
            if claim is None:
                learner_id = self.learners.create(email=ref.email.strip().lower(), name=None, now=now)
                if self.learners.claim_email(ref.email, learner_id, product_id=product_id):
                    return learner_id
                claim = self.learners.email_claim(ref.email)
                if claim is None:
                    return learner_id
            if product_id is not None and claim[1] != product_id:
                raise NotThisProductsLearner(f"the account {ref.email!r} belongs to another product")
            return claim[0]
        key = platform_key_lti13(ref.issuer) if ref.issuer else platform_key_lti11(str(ref.consumer_key))
        pid = platform_id(key)
        assert ref.user_id is not None
        found = self.learners.by_identity(pid, ref.user_id)
        if found is not None:
            return found
        # Work before the first launch counts once the learner launches (rule 3): the identity
        # gets its learner now, and the launch will find it.
        learner_id = self.learners.create(email=None, name=None, now=now)
        return self.learners.link_identity(
            platform_id=pid, lms_user_id=ref.user_id, learner_id=learner_id, email=None, now=now
        )

    def apply_score(
        self,
        message: ScoreMessage,
        now: datetime,
        course_cache: dict[str, Any],
        product_id: str | None = None,
        batch: BatchResult | None = None,
    ) -> Applied:
        activity = self.catalog.get(message.activity_id)
        if activity is None:
            raise UnknownActivity(f"activity {message.activity_id!r} is not in the catalog")
        learner_id = self.learner_for(message.learner, now, product_id)
        changed = True
        report = ScoreReport(
            message_id=message.message_id,
            learner_id=learner_id,
            activity_id=message.activity_id,
            answered=message.answered,
            score=message.score,
            occurred_at=message.occurred_at,
        )
        for _ in range(_RACES):
            current = self.progress.get(learner_id, message.activity_id)
            new = progress_belongs_to_the_learner(current, report)
            if new is None:
                count("ScoresUnchanged")
                changed = False
                break
            if self.progress.save(new, now=now):
                # "unchanged" for the product: older than the newest report, no new high in answers.
                changed = new.overall != current.overall
                current = new
                count("ScoresApplied")
                break
        else:
            raise Conflict(f"progress {learner_id}/{message.activity_id} kept changing")
        # The learner's courses are looked up after the progress write: a launch or a roster read
        # enrolling them meanwhile reads progress again after creating the enrollment
        # (CourseGrades.catch_up), so one of the two sees the other's write.
        courses = self._courses_with_activity(learner_id, message.activity_id, course_cache)
        minimum = int(activity.min_questions)
        stored: list[EnrollmentRecord] = []
        for course in courses:
            placed = course.activities[message.activity_id]
            grade = grade_from_timeline(current, minimum, placed.gau, now)
            # set_grades writes only when the entry is newer than the stored one (a duplicate writes nothing).
            written = {placed.idx: GradeEntry.of(grade, current.version, placed.gau)}
            record = self._write_grade(course, learner_id, written, now, batch)
            # A deadline changed while this batch held the course: the grade under the current one wins.
            record = settle(self.grades, course.course_id, learner_id, written, record, now)
            if record is not None:
                stored.append(record)
        return Applied(
            learner_id=learner_id,
            course_ids=frozenset(c.course_id for c in courses),
            enrollments=tuple(stored),
            changed=changed,
        )

    def _write_grade(
        self,
        course: CourseRecord,
        learner_id: str,
        written: dict[int, GradeEntry],
        now: datetime,
        batch: BatchResult | None,
    ) -> EnrollmentRecord | None:
        """The grade write; in a batch it also claims the cells the new grade makes owe a value.

        One conditional update for both (docs/architecture.md, "A cell's states"): the cells are
        read (consistently, once per batch and learner) before the enrollment the write rests on.
        """
        if batch is None:
            return self.enrollments.set_grades(course.course_id, learner_id, written)
        key = (course.course_id, learner_id)
        if key not in batch.cells:
            batch.cells[key] = self.sync.cells.for_learner(course.course_id, learner_id)
        cells, held = batch.cells[key], batch.held[key]
        wanted: dict[str, ClaimEntry] = {}

        def claims(after: EnrollmentRecord) -> dict[str, ClaimEntry]:
            wanted.clear()
            wanted.update(self.sync.claims_to_take(course, after, cells, held, now))
            return wanted

        record = self.enrollments.set_grades(course.course_id, learner_id, written, claims=claims)
        if record is not None:
            held.update(
                c.claim_id
                for link_id, c in wanted.items()
                if (taken := record.claims.get(link_id)) is not None and taken.claim_id == c.claim_id
            )
            batch.keep(record)
        return record

    def _courses_with_activity(self, learner_id: str, activity_id: str, cache: dict[str, Any]) -> list[CourseRecord]:
        found = []
        for course_id in self.enrollments.courses_of(learner_id):
            if course_id not in cache:
                cache[course_id] = self.courses.get(course_id)
            course = cache[course_id]
            if course is not None and activity_id in course.activities:
                found.append(course)
        return found

    # ------------------------------------------------------------------ a batch

    def process_batch(self, records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
        """Apply a Lambda SQS batch, then sync what it touched; returns the partial batch response."""
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

        processor = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger("passback"))
        result = BatchResult()
        course_cache: dict[str, Any] = {}

        def record_handler(record: SQSRecord) -> None:
            self._handle_record(record, now, course_cache, result)

        with processor(records=records, handler=record_handler):
            processor.process()
            crashed = self._sync_touched(result, now, course_cache)
            if crashed:
                # Let SQS redeliver the messages whose sync crashed; their apply is idempotent.
                # powertools keeps successes as raw records and failures as SQSRecord objects.
                for raw in list(processor.success_messages):
                    if isinstance(raw, dict) and raw.get("messageId") in crashed:
                        processor.success_messages.remove(raw)
                        processor.fail_messages.append(SQSRecord(raw))
                        processor.exceptions.append(sys.exc_info())
        return dict(processor.response())

    def _handle_record(self, record: Any, now: datetime, course_cache: dict[str, Any], result: BatchResult) -> None:
        body = record.body
        product_id = _product_of(record)
        try:
            message = parse_product_message(body)
        except (ValidationError, ValueError) as error:
            self._dead_letter(record, "invalid message", _validation_summary(error), product_id)
            return
        sent_ms = record.attributes.sent_timestamp
        received_at = queue_received_at(int(sent_ms), now) if sent_ms and int(sent_ms) > 0 else now
        try:
            applied = self.apply(message, now, course_cache, product_id, received_at, result)
        except PermanentMessageError as error:
            self._dead_letter(record, error.reason, str(error), product_id, message.message_id, now)
            return
        except UnknownActivity as error:
            receives = int(record.attributes.approximate_receive_count or 1)
            if receives >= UNKNOWN_ACTIVITY_RECEIVES:
                detail = f"{error} after {receives} deliveries"
                self._dead_letter(record, error.reason, detail, product_id, message.message_id, now)
                return
            raise
        if product_id is not None and self.statuses is not None:
            status = "applied" if applied.changed else "unchanged"
            self.statuses.settle(product_id, message.message_id, status, now)
        if applied.learner_id is None:
            return
        origin = from_epoch(int(sent_ms) / 1000) if sent_ms else now
        for course_id in applied.course_ids:
            key = (course_id, applied.learner_id)
            result.touched[key].add(record.message_id)
            result.origins[key] = min(origin, result.origins.get(key, origin))
        for enrollment in applied.enrollments:
            result.keep(enrollment)

    def _dead_letter(
        self,
        record: Any,
        reason: str,
        detail: str,
        product_id: str | None = None,
        message_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        logger.warning(
            "score message dead-lettered",
            extra={"reason": reason, "detail": detail[:500], "sqs_message_id": record.message_id},
        )
        count("DeadLettered")
        self.queues.dead_letter(
            record.body, reason=reason, detail=detail, source_message_id=record.message_id, product_id=product_id
        )
        if product_id is not None and message_id is not None and now is not None and self.statuses is not None:
            self.statuses.settle(product_id, message_id, "dead-lettered", now, reason=reason, detail=detail)

    def _sync_touched(self, result: BatchResult, now: datetime, course_cache: dict[str, Any]) -> set[str]:
        """Sync each touched learner once per course, in parallel; message ids whose sync crashed."""
        crashed: set[str] = set()

        def run(key: tuple[str, str]) -> None:
            course_id, learner_id = key
            course = course_cache.get(course_id) or self.courses.get(course_id)
            if course is None:
                return
            held, enrollment = result.held.get(key, set()), result.enrollments.get(key)
            try:
                self.sync.sync_learner(
                    course,
                    learner_id,
                    now,
                    origin=result.origins.get(key),
                    enrollment=enrollment,
                    cells=result.cells.get(key),
                    held=held,
                )
            except Exception:
                if held and enrollment is not None:
                    self.sync.release_held(course, enrollment, held, now)
                raise

        # Claims taken by a message that failed afterwards are synced too: they would block others.
        keys = [*result.touched, *(k for k, held in result.held.items() if held and k not in result.touched)]
        run_all(
            keys,
            run,
            self.workers,
            on_error=lambda key, error: crashed.update(_logged(result.touched.get(key, set()), key, error)),
        )
        return crashed


def _logged(message_ids: set[str], key: tuple[str, str], error: Exception) -> set[str]:
    logger.exception(
        "sync after scoring crashed; the messages will be redelivered",
        extra={"course": key[0], "learner": key[1], "error": repr(error)[:300]},
    )
    return message_ids


def _product_of(record: Any) -> str | None:
    """The product that posted this message through the API (the API function tags it), if any."""
    attribute = (record.raw_event.get("messageAttributes") or {}).get(PRODUCT_ATTRIBUTE) or {}
    value = attribute.get("stringValue")
    return str(value) if value else None


def _validation_summary(error: Exception) -> str:
    from passback.messages import describe_invalid

    return describe_invalid(error)
