"""Telling instructors that a learner's report was refused because it was dated in the future.

The score function dead-letters such a report and the score API answers 400 (domain/clocks.py);
operators see those. The instructor sees only the grade, so this records a notice in each course
of that learner that assigns the activity, for the gradebook to show on the learner's cell
(docs/gradebook.md). Recording reads (GetItem and Query) and writes one small item per course
(a conditional Put, data/refusals.py); it never creates a learner, never writes a cell, an
enrollment or progress, and runs only for refused reports, so accepted scores cost nothing more.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from passback.data.catalog import ActivityRepository
from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.learners import LearnerRepository
from passback.data.progress import ProgressRepository
from passback.data.refusals import RefusalRepository
from passback.domain.clocks import RefusedReport
from passback.ids import platform_id, platform_key_lti11, platform_key_lti13
from passback.messages import LearnerRef, ScoreMessage
from passback.observability import count, logger


class RefusalNotices:
    def __init__(
        self,
        learners: LearnerRepository,
        enrollments: EnrollmentRepository,
        courses: CourseRepository,
        progress: ProgressRepository,
        catalog: ActivityRepository,
        repository: RefusalRepository,
    ) -> None:
        self.learners = learners
        self.enrollments = enrollments
        self.courses = courses
        self.progress = progress
        self.catalog = catalog
        self.repository = repository

    def record(
        self,
        message: ScoreMessage,
        *,
        received_at: datetime,
        now: datetime,
        product_id: str | None = None,
        via: str = "queue",
    ) -> int:
        """Record the refusal on every course of the learner that assigns the activity; how many courses.

        Best effort: a failure is logged and counted, never raised, so the refusal itself (the
        dead letter, the 400) is exactly what it was without the notice.
        """
        try:
            return self._record(message, received_at, now, product_id, via)
        except Exception as error:
            count("RefusalNoticesFailed")
            logger.warning(
                "refused report not recorded for the gradebook",
                extra={"message_id": message.message_id, "error": repr(error)[:300]},
            )
            return 0

    def _record(
        self, message: ScoreMessage, received_at: datetime, now: datetime, product_id: str | None, via: str
    ) -> int:
        learner_id = self.known_learner(message.learner, product_id)
        if learner_id is None:
            return 0  # nobody Passback knows: no gradebook has a cell for them
        courses = []
        for course_id in self.enrollments.courses_of(learner_id):
            course = self.courses.get(course_id)
            if course is not None and message.activity_id in course.activities:
                courses.append(course_id)
        if not courses:
            return 0
        version = self.progress.get(learner_id, message.activity_id).version
        product = product_id or self._product_of(message.activity_id)
        written = 0
        for course_id in courses:
            refused = RefusedReport(
                course_id=course_id,
                learner_id=learner_id,
                activity_id=message.activity_id,
                occurred_at=message.occurred_at,
                received_at=received_at,
                refused_at=now,
                message_id=message.message_id,
                product=product,
                via=via,
                progress_version=version,
            )
            written += self.repository.record(refused)
        count("RefusalNoticesRecorded", written)
        return written

    def known_learner(self, ref: LearnerRef, product_id: str | None = None) -> str | None:
        """The learner a reference names, without creating one (unlike the score pipeline)."""
        if ref.learner_id is not None:
            learner = self.learners.get(ref.learner_id)
            return None if learner is None else str(learner.merged_into or ref.learner_id)
        if ref.email is not None:
            claim = self.learners.email_claim(ref.email)
            if claim is None or (product_id is not None and claim[1] != product_id):
                return None  # another product's address is not this one's to report on
            return claim[0]
        key = platform_key_lti13(ref.issuer) if ref.issuer else platform_key_lti11(str(ref.consumer_key))
        return self.learners.by_identity(platform_id(key), str(ref.user_id))

    def _product_of(self, activity_id: str) -> str | None:
        """A queue message names no product: the host of the activity's product URL says which one it is."""
        activity = self.catalog.get(activity_id)
        url = getattr(activity, "product_url", None) if activity is not None else None
        return urlsplit(str(url)).hostname if url else None
