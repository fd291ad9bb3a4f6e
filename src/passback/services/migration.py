"""LTI 1.1 to 1.3 without losing anyone (docs/migration.md).

A 1.3 launch whose 1.1 ids are known (`LaunchFacts.legacy`: a verified `lti1p1` claim, or an
operator's tie) continues what Passback built under 1.1:

- the learner: the 1.3 identity (issuer + `sub`) joins the learner of the 1.1 identity (consumer key
  + `user_id`), never another learner it is already bound to;
- the course: when Passback has the 1.1 course, the launch is that course's (same id, enrollments,
  cells, history), which is marked as now reached through 1.3 from this issuer;
- the link: the launch is the 1.1 link's (same link id and cells); its protocol becomes 1.3 and it
  gets its line item, so owed grades go by AGS to the same LMS column. A 1.3 launch naming no
  activity keeps the activity the 1.1 link named (a link must not silently become a homepage link).

The learner's 1.3 `sub` is kept on their enrollment: AGS scores name it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from passback.data.courses import CourseRepository
from passback.data.enrollments import EnrollmentRepository
from passback.data.learners import LearnerRepository
from passback.ids import course_id, link_id, platform_id, platform_key_lti11
from passback.observability import logger
from passback.services.launch import LaunchFacts, LaunchOutcome


@dataclass(frozen=True)
class Migrated:
    course_id: str
    issuer: str


class LegacyLinks:
    def __init__(self, courses: CourseRepository, learners: LearnerRepository, enrollments: EnrollmentRepository):
        self.courses = courses
        self.learners = learners
        self.enrollments = enrollments

    def map(self, facts: LaunchFacts, now: datetime) -> tuple[LaunchFacts, Migrated | None]:
        """The launch as the 1.1 course and link know it, when Passback has that course."""
        legacy = facts.legacy
        if legacy is None or facts.lti_version != "1.3":
            return facts, None
        key11 = platform_key_lti11(legacy.consumer_key)
        self._join_learner(facts, platform_id(key11), legacy.user_id, now)
        cid11 = course_id(key11, legacy.context_id)
        course = self.courses.get(cid11)
        if course is None:
            return facts, None  # a course that began after the move: a plain 1.3 course
        issuer = facts.platform_key.removeprefix("lti13:")
        if course.lti13_issuer != issuer:
            self.courses.set_lti13_issuer(cid11, issuer)
            logger.info(
                "course continues through LTI 1.3",
                extra={"course": cid11, "issuer": issuer, "consumer": legacy.consumer_key, "by": legacy.verified_by},
            )
        old_link = course.links.get(link_id(key11, legacy.resource_link_id))
        activity = facts.activity_id or (old_link.activity_id if old_link else None)
        mapped = replace(
            facts,
            platform_key=key11,
            context_id=legacy.context_id,
            resource_link_id=legacy.resource_link_id,
            user_id=legacy.user_id,
            activity_id=activity,
        )
        return mapped, Migrated(course_id=cid11, issuer=issuer)

    def after(
        self, facts: LaunchFacts, migrated: Migrated | None, outcome: LaunchOutcome, now: datetime
    ) -> LaunchOutcome:
        """Bind the 1.3 identity to the launch's learner and note their 1.3 `sub` in the course."""
        if migrated is None:
            return outcome
        bound = self.learners.link_identity(
            platform_id=facts.platform_id,
            lms_user_id=facts.user_id,
            learner_id=outcome.learner_id,
            email=facts.email,
            now=now,
        )
        if bound != outcome.learner_id:
            logger.warning(
                "LTI 1.3 identity already belongs to another learner; not moved",
                extra={"course": migrated.course_id, "learner": outcome.learner_id, "other": bound},
            )
        enrollment = self.enrollments.get(migrated.course_id, outcome.learner_id)
        if enrollment is not None and enrollment.lti13_user_id != facts.user_id:
            self.enrollments.set_lti13_user_id(migrated.course_id, outcome.learner_id, facts.user_id)
        return outcome

    def _join_learner(self, facts: LaunchFacts, legacy_platform_id: str, legacy_user_id: str, now: datetime) -> None:
        """The 1.3 identity joins the 1.1 learner, if that learner exists and the identity is free."""
        learner = self.learners.by_identity(legacy_platform_id, legacy_user_id)
        if learner is None or self.learners.by_identity(facts.platform_id, facts.user_id) is not None:
            return
        self.learners.link_identity(
            platform_id=facts.platform_id, lms_user_id=facts.user_id, learner_id=learner, email=facts.email, now=now
        )
