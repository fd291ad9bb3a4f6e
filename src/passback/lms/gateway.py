"""One interface for sending a grade, whichever LTI version the course speaks."""

from __future__ import annotations

import threading
import time

from passback.clock import utcnow
from passback.data.platforms import ConsumerRepository, PlatformRepository
from passback.domain.delivery import FailureKind
from passback.domain.records import CourseRecord, LinkRecord
from passback.domain.targets import AgsTarget, OutcomeTarget, Target
from passback.lms.ags import AgsClient
from passback.lms.errors import LmsError
from passback.lms.outcomes import OutcomesClient
from passback.lms.tokens import TokenEndpoint

_REGISTRATION_CACHE_SECONDS = 300.0


class LmsGateway:
    def __init__(
        self,
        ags: AgsClient,
        outcomes: OutcomesClient,
        platforms: PlatformRepository,
        consumers: ConsumerRepository,
    ) -> None:
        self.ags = ags
        self.outcomes = outcomes
        self._platforms = platforms
        self._consumers = consumers
        self._endpoints: dict[tuple[str, str], tuple[float, TokenEndpoint | None]] = {}
        self._lock = threading.Lock()

    def send(
        self,
        course: CourseRecord,
        link: LinkRecord,
        target: Target,
        percent: float,
        timestamp: int,
        *,
        answered: int | None = None,
    ) -> None:
        """Send one grade; raises LmsError (which says whether a retry could help)."""
        if isinstance(target, AgsTarget):
            endpoint = self.token_endpoint(course, link)
            self.ags.post_score(endpoint, target.line_item_url, target.user_id, percent, timestamp, answered=answered)
        elif isinstance(target, OutcomeTarget):
            consumer_key = course.platform_key.removeprefix("lti11:")
            secrets = self._consumers.secrets(consumer_key, utcnow())
            if not secrets:
                raise LmsError(
                    f"The LTI 1.1 consumer '{consumer_key}' is no longer registered here; an operator must add it "
                    "again (passback consumers add).",
                    status=None,
                    kind=FailureKind.PERMANENT,
                )
            for attempt, secret in enumerate(secrets, 1):
                try:
                    self.outcomes.replace_result(
                        course.platform_id, target.service_url, target.sourcedid, percent, consumer_key, secret
                    )
                    return
                except LmsError as error:
                    # Within a rotation's grace period the LMS may still hold the previous secret.
                    if attempt == len(secrets) or not _signature_refused(error):
                        raise

    def token_endpoint(self, course: CourseRecord, link: LinkRecord) -> TokenEndpoint:
        # A course migrated from LTI 1.1 keeps its 1.1 platform key; its 1.3 issuer is kept beside it.
        issuer = course.lti13_issuer or course.platform_key.removeprefix("lti13:")
        client_id = link.client_id or ""
        key = (issuer, client_id)
        with self._lock:
            hit = self._endpoints.get(key)
        if hit is None or time.monotonic() - hit[0] > _REGISTRATION_CACHE_SECONDS:
            platform = self._platforms.get(issuer, client_id) if client_id else None
            if platform is None and not client_id:
                candidates = self._platforms.for_issuer(issuer)
                platform = candidates[0] if len(candidates) == 1 else None
            endpoint = None
            if platform is not None:
                endpoint = TokenEndpoint(
                    platform_id=course.platform_id,
                    token_url=platform.token_url,
                    client_id=platform.client_id,
                    audience=platform.token_audience,
                )
            hit = (time.monotonic(), endpoint)
            with self._lock:
                self._endpoints[key] = hit
        if hit[1] is None:
            raise LmsError(
                f"The LTI 1.3 registration for {issuer} (client {client_id or '?'}) is missing; an operator must "
                "add it again (passback platforms add).",
                status=None,
                kind=FailureKind.PERMANENT,
            )
        return hit[1]


def _signature_refused(error: LmsError) -> bool:
    return error.status in (401, 403) or (error.status == 200 and "signature" in error.message.lower())
