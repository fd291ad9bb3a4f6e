"""LTI 1.1 launches: OAuth 1.0a HMAC-SHA1 form POSTs, verified with oauthlib.

The checks run in an order that names what failed: required parameters, message type and
version, the consumer key, the timestamp window; then oauthlib verifies the signature against
the consumer's secret; only a correctly signed launch consumes its nonce (DynamoDB, conditional
write), so a forged request cannot burn a real one, and a replay is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint

from passback.data.launch_state import NonceStore
from passback.data.platforms import ConsumerRepository
from passback.ids import platform_key_lti11
from passback.lti.errors import RELAUNCH, LaunchRefused, check_activity_id, fits, usable_email, usable_name
from passback.services.launch import LaunchFacts, origin_of, time_zone_of
from passback.web.http import HttpRequest

TIMESTAMP_WINDOW = timedelta(minutes=5)
REQUIRED = (
    "oauth_consumer_key",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "lti_message_type",
    "lti_version",
    "resource_link_id",
    "user_id",
    "context_id",
)
CONSUMER_ADVICE = (
    "The LMS administrator should check the consumer key and shared secret entered in the LMS match those "
    "Passback issued (`passback consumers list`; docs/lms-setup.md)."
)


class _Validator(RequestValidator):  # type: ignore[misc]
    """What oauthlib asks of us. Only the signature is left to oauthlib; the rest is checked before."""

    enforce_ssl = False  # API Gateway terminates TLS; the local stack is plain HTTP on loopback
    timestamp_lifetime = int(TIMESTAMP_WINDOW.total_seconds())

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    @property
    def dummy_client(self) -> str:
        return "dummy-consumer"

    def check_client_key(self, client_key: str) -> bool:
        return 0 < len(client_key) <= 256

    def check_nonce(self, nonce: str) -> bool:
        return 0 < len(nonce) <= 256

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return True

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self._secret

    def validate_timestamp_and_nonce(self, *args: Any, **kwargs: Any) -> bool:
        return True  # the window is checked before; the nonce is consumed after the signature verifies


class Lti11:
    def __init__(self, consumers: ConsumerRepository, nonces: NonceStore, base_url: Callable[[HttpRequest], str]):
        self.consumers = consumers
        self.nonces = nonces
        self.base_url = base_url

    def launch(self, http: HttpRequest, now: datetime) -> LaunchFacts:
        form = http.form
        missing = [name for name in REQUIRED if not form.get(name)]
        if missing:
            raise LaunchRefused(
                "required parameters",
                f"the launch lacks {', '.join(missing)}.",
                "The LMS administrator should check the link is an LTI 1.1 launch inside a course, "
                "with the user's id sent (privacy settings).",
            )
        long = [name for name in ("resource_link_id", "user_id", "context_id") if not fits(form[name])]
        if long:
            raise LaunchRefused(
                "parameter format",
                f"{', '.join(long)} is longer than 255 bytes.",
                "The LMS administrator should check the LMS sends its own ids for users, courses and links.",
            )
        if form["lti_message_type"] != "basic-lti-launch-request":
            raise LaunchRefused(
                "message type",
                f"{form['lti_message_type'][:80]!r} is not a basic-lti-launch-request.",
                "Only basic LTI launches are supported.",
            )
        if form["lti_version"] not in ("LTI-1p0", "LTI-1p2"):
            raise LaunchRefused(
                "version",
                f"{form['lti_version'][:80]!r} is not LTI-1p0 (LTI 1.1).",
                "The LMS administrator should add the tool as an LTI 1.1 (basic LTI) link, or use LTI 1.3.",
            )
        if form["oauth_signature_method"] != "HMAC-SHA1":
            raise LaunchRefused(
                "signature method",
                f"{form['oauth_signature_method'][:80]!r} is not HMAC-SHA1.",
                "The LMS administrator should choose HMAC-SHA1 for this tool.",
                status=401,
            )
        key = form["oauth_consumer_key"]
        secrets = self.consumers.secrets(key, now)
        if not secrets or self.consumers.get(key) is None:
            raise LaunchRefused(
                "consumer key", f"the consumer key {key[:80]!r} is not registered.", CONSUMER_ADVICE, status=403
            )
        try:
            stamp = int(form["oauth_timestamp"])
        except ValueError as error:
            raise LaunchRefused("timestamp", "oauth_timestamp is not a number.", RELAUNCH, status=401) from error
        if abs(now.timestamp() - stamp) > TIMESTAMP_WINDOW.total_seconds():
            raise LaunchRefused(
                "timestamp",
                "the launch was signed more than five minutes away from now.",
                "Open the link again; if it persists, the LMS's clock needs checking.",
                status=401,
            )
        url = self.base_url(http) + http.path
        # The launch URL's query (a per-link URL such as `.../lti11/launch?activity_id=quiz-1`) is
        # part of what the LMS signed; oauthlib takes the query parameters from the URL.
        signed_url = url + ("?" + urlencode(list(http.query.items())) if http.query else "")
        body = urlencode(list(form.items()))

        # After a rotation the LMS may still sign with the previous secret (its grace period), or
        # already with the new one this container has not read yet (recheck: read them again).
        def verifies(candidates: list[str]) -> bool:
            return any(
                SignatureOnlyEndpoint(_Validator(secret)).validate_request(
                    signed_url, "POST", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
                )[0]
                for secret in candidates
            )

        valid = verifies(secrets)
        if not valid:
            rechecked = self.consumers.secrets(key, now, recheck=True)
            valid = rechecked != secrets and verifies(rechecked)
        if not valid:
            raise LaunchRefused(
                "signature",
                "the OAuth signature does not verify with this consumer's secret.",
                CONSUMER_ADVICE + f" The launch URL must be {url} (a query after it is allowed).",
                status=401,
            )
        keep = now + TIMESTAMP_WINDOW * 2
        if not self.nonces.consume(f"lti11#{key}", form["oauth_nonce"], now, keep):
            raise LaunchRefused("nonce", "this launch was already used (a replay).", RELAUNCH, status=403)
        facts = facts_from_form(form, http)
        check_activity_id(facts.activity_id)
        return facts


def facts_from_form(form: dict[str, str], http: HttpRequest) -> LaunchFacts:
    roles = tuple(r.strip() for r in form.get("roles", "").split(",") if r.strip())
    # The custom parameter, else the launch URL's query (as for LTI 1.3, see lti13.activity_of).
    activity = (form.get("custom_activity_id") or http.query.get("activity_id") or "").strip() or None
    return LaunchFacts(
        lti_version="1.1",
        platform_key=platform_key_lti11(form["oauth_consumer_key"]),
        context_id=form["context_id"],
        context_title=form.get("context_title"),
        context_label=form.get("context_label"),
        resource_link_id=form["resource_link_id"],
        resource_link_title=form.get("resource_link_title"),
        user_id=form["user_id"],
        roles=roles,
        name=usable_name(form.get("lis_person_name_full")),
        email=usable_email(form.get("lis_person_contact_email_primary")),
        activity_id=activity,
        time_zone=time_zone_of({k.removeprefix("custom_"): v for k, v in form.items() if k.startswith("custom_")}),
        outcome_service_url=form.get("lis_outcome_service_url") or None,
        sourcedid=form.get("lis_result_sourcedid") or None,
        lms_origin=origin_of(http.header("origin")) or origin_of(form.get("launch_presentation_return_url")),
        return_url=form.get("launch_presentation_return_url"),
    )
