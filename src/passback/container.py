"""The composition root: what each function needs, made on first use, kept for the container's life.

Nothing is made at import: a handler module imports this and calls, say, `scoring()` inside the
handler, so a cold start pays only for what that function uses. Tests call `reset()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from passback.settings import get_settings

if TYPE_CHECKING:
    from passback.data.catalog import ActivityRepository
    from passback.data.cells import CellRepository
    from passback.data.courses import CourseRepository
    from passback.data.enrollments import EnrollmentRepository
    from passback.data.gradebook_view import GradebookViewRepository
    from passback.data.launch_state import NonceStore
    from passback.data.learners import LearnerRepository
    from passback.data.platforms import ConsumerRepository, PlatformRepository
    from passback.data.products import MessageStatuses, ProductRepository
    from passback.data.progress import ProgressRepository
    from passback.dead_letters import DeadLetters
    from passback.lms.gateway import LmsGateway
    from passback.lms.http import Http, PlatformGate
    from passback.lms.tokens import TokenCache
    from passback.lti.lti11 import Lti11
    from passback.lti.lti13 import Lti13
    from passback.mailer import Mailer
    from passback.queues import Queues
    from passback.services.column_labels import ColumnLabels
    from passback.services.course_settings import CourseSettings
    from passback.services.gradebook import GradebookService
    from passback.services.grades import CourseGrades
    from passback.services.jobs import CourseJobs
    from passback.services.launch import LaunchService
    from passback.services.line_items import LineItemService
    from passback.services.merges import MergeService
    from passback.services.product_api import MessageIntake, ProductTokens
    from passback.services.products import ProductAdmin
    from passback.services.refusals import RefusalNotices
    from passback.services.registration import RegistrationService
    from passback.services.roster import RosterService
    from passback.services.scoring import ScoringService
    from passback.services.sweep import Sweeper
    from passback.services.sync import SyncService
    from passback.tool_keys import ToolKeys


# Course-job workers per LMS slot (see jobs()).
JOB_WORKERS_PER_SLOT = 4


@cache
def tool_keys() -> ToolKeys:
    from passback.data.secret_store import SecretDocument
    from passback.tool_keys import ToolKeys

    return ToolKeys(SecretDocument(get_settings().tool_keys_secret))


@cache
def platforms() -> PlatformRepository:
    from passback.data.platforms import PlatformRepository

    return PlatformRepository()


@cache
def consumers() -> ConsumerRepository:
    from passback.data.platforms import ConsumerRepository
    from passback.data.secret_store import SecretDocument

    return ConsumerRepository(SecretDocument(get_settings().consumer_secrets_secret))


@cache
def registrations() -> RegistrationService:
    from passback.data.invites import InviteStore
    from passback.lti.platform_registration import RegistrationClient
    from passback.services.registration import RegistrationService

    settings = get_settings()
    return RegistrationService(
        platforms(),
        InviteStore(),
        RegistrationClient(timeout=settings.http_timeout_seconds),
        open_registration=settings.open_registration,
    )


@cache
def catalog() -> ActivityRepository:
    from passback.data.catalog import ActivityRepository

    made = ActivityRepository()
    # A new title relabels the activity's LMS columns (course jobs, off the message's path).
    made.on_rename = lambda activity_id, title, now: column_labels().activity_renamed(activity_id, title, now)
    return made


@cache
def courses() -> CourseRepository:
    from passback.data.courses import CourseRepository
    from passback.domain.release import ReleasePolicy

    return CourseRepository(ReleasePolicy(get_settings().default_release_policy))


@cache
def enrollments() -> EnrollmentRepository:
    from passback.data.enrollments import EnrollmentRepository

    return EnrollmentRepository()


@cache
def gradebook_view() -> GradebookViewRepository:
    from passback.data.gradebook_view import GradebookViewRepository
    from passback.domain.release import ReleasePolicy

    return GradebookViewRepository(ReleasePolicy(get_settings().default_release_policy))


@cache
def gradebook() -> GradebookService:
    from passback.services.gradebook import GradebookService

    def thresholds(activity_ids: Iterable[str]) -> dict[str, int | None]:
        found = catalog().get_many(activity_ids)
        return {a: int(item.min_questions) if item is not None else None for a, item in found.items()}

    return GradebookService(gradebook_view(), thresholds)


@cache
def cells() -> CellRepository:
    from passback.data.cells import CellRepository

    return CellRepository()


@cache
def learners() -> LearnerRepository:
    from passback.data.learners import LearnerRepository

    return LearnerRepository()


@cache
def progress() -> ProgressRepository:
    from passback.data.progress import ProgressRepository

    return ProgressRepository()


@cache
def http() -> Http:
    from passback.lms.http import Http

    return Http(get_settings().http_timeout_seconds)


@cache
def gate() -> PlatformGate:
    from passback.domain.delivery import slot_wait_budget
    from passback.lms.http import PlatformGate

    settings = get_settings()
    return PlatformGate(settings.platform_concurrency, slot_wait=slot_wait_budget(settings.http_timeout_seconds))


@cache
def tokens() -> TokenCache:
    from passback.data.tokens import AccessTokenStore
    from passback.lms.tokens import TokenCache

    return TokenCache(http(), gate(), AccessTokenStore(), tool_keys())


@cache
def lms() -> LmsGateway:
    from passback.lms.ags import AgsClient
    from passback.lms.gateway import LmsGateway
    from passback.lms.outcomes import OutcomesClient

    return LmsGateway(AgsClient(http(), gate(), tokens()), OutcomesClient(http(), gate()), platforms(), consumers())


@cache
def queues() -> Queues:
    from passback.queues import Queues

    s = get_settings()
    return Queues(
        release_queue_url=s.release_queue_url, score_queue_url=s.score_queue_url, score_dlq_url=s.score_dlq_url
    )


@cache
def sync() -> SyncService:
    from passback.domain.delivery import RetryPlan
    from passback.services.sync import SyncService

    plan = RetryPlan(horizon_seconds=get_settings().retry_horizon_seconds)
    return SyncService(courses(), enrollments(), cells(), lms(), retry_plan=plan)


@cache
def grades() -> CourseGrades:
    from passback.services.grades import CourseGrades

    return CourseGrades(progress(), enrollments(), catalog(), courses())


@cache
def scoring() -> ScoringService:
    from datetime import timedelta

    from passback.services.scoring import ScoringService

    settings = get_settings()
    return ScoringService(
        catalog(),
        learners(),
        progress(),
        enrollments(),
        courses(),
        sync(),
        queues(),
        workers=settings.platform_concurrency,
        statuses=message_statuses(),
        clock_skew=timedelta(seconds=settings.score_clock_skew_seconds),
        refusals=refusal_notices(),
    )


@cache
def refusal_notices() -> RefusalNotices:
    from passback.data.refusals import RefusalRepository
    from passback.services.refusals import RefusalNotices

    return RefusalNotices(learners(), enrollments(), courses(), progress(), catalog(), RefusalRepository())


@cache
def jobs() -> CourseJobs:
    from passback.services.jobs import CourseJobs

    # More workers than the platform's cap: while up to `cap` wait on the LMS (the gate holds the
    # rest), the others do their DynamoDB reads and writes, so the LMS is never left idle.
    cap = get_settings().platform_concurrency
    made = CourseJobs(courses(), enrollments(), grades(), sync(), queues(), workers=cap * JOB_WORKERS_PER_SLOT)
    made.runners["roster"] = lambda job, now: roster().sync(job.course_id, now).members
    made.runners["relabel"] = lambda job, now: column_labels().run(job, now)
    return made


@cache
def column_labels() -> ColumnLabels:
    from passback.data.column_labels import ColumnLabelRepository
    from passback.lms.line_items import LineItemsClient
    from passback.services.column_labels import ColumnLabels

    gateway = lms()
    return ColumnLabels(courses(), ColumnLabelRepository(), catalog(), jobs(), gateway, LineItemsClient(gateway.ags))


@cache
def roster() -> RosterService:
    from passback.data.roster import RosterRepository
    from passback.lms.roster import RosterClient
    from passback.services.roster import RosterService

    gateway = lms()
    return RosterService(
        courses(),
        enrollments(),
        learners(),
        grades(),
        jobs(),
        RosterRepository(),
        gateway,
        RosterClient(gateway.ags),
        merges(),
    )


@cache
def sweeper() -> Sweeper:
    from passback.services.sweep import Sweeper

    return Sweeper(
        courses(),
        cells(),
        sync(),
        jobs(),
        workers=get_settings().platform_concurrency,
        merges=merges(),
        roster=roster(),
    )


def reset() -> None:
    """Forget everything made so far (tests; the local stack after changing settings)."""
    from passback import aws
    from passback.data import tables
    from passback.settings import reset_settings

    for made in list(globals().values()):
        if callable(made) and hasattr(made, "cache_clear") and getattr(made, "__module__", "") == __name__:
            made.cache_clear()
    reset_settings()
    aws.reset_clients()
    tables.rebind()


@cache
def idempotency_store() -> object:
    """powertools' idempotency records, in the state table beside launch state and tokens."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from passback import aws

    return DynamoDBPersistenceLayer(
        table_name=get_settings().state_table,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#course-jobs",
        expiry_attr="expires",
        boto3_client=aws.dynamodb(),
    )


@cache
def course_settings() -> CourseSettings:
    from passback.services.course_settings import CourseSettings

    return CourseSettings(courses(), catalog(), jobs(), enrollments=enrollments(), grades=grades())


@cache
def launches() -> LaunchService:
    from passback.services.launch import LaunchService
    from passback.services.migration import LegacyLinks

    return LaunchService(
        courses(),
        learners(),
        enrollments(),
        cells(),
        catalog(),
        grades(),
        jobs(),
        line_items(),
        merges(),
        migration=LegacyLinks(courses(), learners(), enrollments()),
    )


@cache
def line_items() -> LineItemService:
    from passback.lms.line_items import LineItemsClient
    from passback.services.line_items import LineItemService

    gateway = lms()
    return LineItemService(courses(), gateway, LineItemsClient(gateway.ags))


@cache
def mailer() -> Mailer:
    from passback.mailer import Mailer

    s = get_settings()
    return Mailer(s.sender_email, s.mail_dir)


@cache
def merges() -> MergeService:
    from passback.data.merges import MergeRepository
    from passback.services.merges import MergeService

    return MergeService(
        learners(),
        enrollments(),
        cells(),
        progress(),
        courses(),
        grades(),
        jobs(),
        MergeRepository(),
        mailer(),
        tool_keys(),
    )


@cache
def lti13() -> Lti13:
    from passback.data.key_sets import KeySetStore
    from passback.data.launch_state import LaunchStateStore
    from passback.lti.key_sets import PlatformKeySets
    from passback.lti.lti1p1 import LegacyClaims
    from passback.lti.lti13 import Lti13
    from passback.lti.tool_config import DynamoToolConf
    from passback.web.http import public_base_url

    return Lti13(
        DynamoToolConf(platforms()),
        LaunchStateStore(),
        nonces(),
        PlatformKeySets(KeySetStore()),
        public_base_url,
        legacy=LegacyClaims(platforms(), consumers()),
    )


@cache
def nonces() -> NonceStore:
    from passback.data.launch_state import NonceStore

    return NonceStore()


@cache
def lti11() -> Lti11:
    from passback.lti.lti11 import Lti11
    from passback.web.http import public_base_url

    return Lti11(consumers(), nonces(), public_base_url)


@cache
def dead_letters() -> DeadLetters:
    from passback.dead_letters import DeadLetterQueue, DeadLetters

    s = get_settings()
    return DeadLetters(
        [
            DeadLetterQueue("score", s.score_dlq_url, s.score_queue_url),
            DeadLetterQueue("release", s.release_dlq_url, s.release_queue_url),
        ]
    )


# ---------------------------------------------------------------- products and their API (issue 21)


@cache
def products() -> ProductRepository:
    from passback.data.products import ProductRepository

    return ProductRepository()


@cache
def message_statuses() -> MessageStatuses:
    from passback.data.products import MessageStatuses

    return MessageStatuses()


@cache
def product_admin() -> ProductAdmin:
    from passback.services.products import ProductAdmin

    return ProductAdmin(products())


@cache
def product_tokens() -> ProductTokens:
    from passback.services.product_api import ProductTokens

    return ProductTokens(products(), nonces(), tool_keys())


@cache
def message_intake() -> MessageIntake:
    from datetime import timedelta

    from passback.data.products import RateWindows
    from passback.services.product_api import MessageIntake

    skew = timedelta(seconds=get_settings().score_clock_skew_seconds)
    return MessageIntake(
        products(), message_statuses(), RateWindows(), queues(), catalog(), clock_skew=skew, refusals=refusal_notices()
    )
