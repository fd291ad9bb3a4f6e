"""What each launch-function route does, from a plain request to a plain response.

Each route calls one of these; they validate, run the service, and shape the answer. A refused
launch becomes a 4xx page naming the check that failed and what to do, with the correlation id
that is also in the structured log (never the token).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from passback import container
from passback.lti.deep_linking import DeepLinkingRequest
from passback.lti.errors import LaunchRefused
from passback.observability import logger
from passback.services.launch import LaunchFacts, LaunchOutcome
from passback.services.products import grant_handoff
from passback.settings import get_settings
from passback.web import deep_linking, handoff, pages, session
from passback.web.http import HttpRequest, WebResponse, public_base_url

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def refused(error: LaunchRefused, http: HttpRequest) -> WebResponse:
    logger.warning(
        "launch refused",
        extra={"check": error.check, "detail": error.detail[:300], "status": error.status, "path": http.path},
    )
    html = pages.refused_page(
        status=error.status, check=error.check, detail=error.detail, advice=error.advice, correlation_id=http.request_id
    )
    return WebResponse(error.status, html, headers=dict(NO_STORE))


def lti13_login(http: HttpRequest, now: datetime) -> WebResponse:
    try:
        return container.lti13().login(http, now)
    except LaunchRefused as error:
        return refused(error, http)


def lti13_launch(http: HttpRequest, now: datetime) -> WebResponse:
    try:
        facts = container.lti13().receive(http, now)
    except LaunchRefused as error:
        return refused(error, http)
    if isinstance(facts, DeepLinkingRequest):
        return deep_linking.open_picker(facts, http, now)
    facts = replace(facts, tool_base_url=public_base_url(http))
    return after_launch(container.launches().launch(facts, now), facts, http, now)


def lti11_launch(http: HttpRequest, now: datetime) -> WebResponse:
    try:
        facts = container.lti11().launch(http, now)
    except LaunchRefused as error:
        return refused(error, http)
    facts = replace(facts, tool_base_url=public_base_url(http))
    return after_launch(container.launches().launch(facts, now), facts, http, now)


def after_launch(outcome: LaunchOutcome, facts: LaunchFacts, http: HttpRequest, now: datetime) -> WebResponse:
    """The instructor goes to the gradebook; the learner goes to the product with a signed token."""
    base = public_base_url(http)
    keys = container.tool_keys()
    if outcome.is_instructor and facts.lti_version == "1.3":
        # The first instructor launch that offers the roster queues its first read (services/roster.py).
        container.roster().instructor_launched(outcome.course.course_id, facts.memberships_url, facts.client_id, now)
    if outcome.is_instructor:
        started = session.issue(
            keys,
            base_url=base,
            course_id=outcome.course.course_id,
            learner_id=outcome.learner_id,
            role=outcome.role,
            platform_id=outcome.course.platform_id,
            lms_origin=outcome.course.lms_origin or facts.lms_origin,
            time_zone=facts.time_zone,
            now=now,
        )
        # The URL carries a one-time ticket, never the session (web/session.py): the page's first
        # load exchanges it and sets the cookie.
        ticket = session.ticket(keys, started, now=now)
        location = f"{base}/gradebook/{outcome.course.course_id}?{session.TICKET_PARAMETER}={ticket}"
        return WebResponse(303, headers={"Location": location, **NO_STORE})
    activity = container.catalog().get(outcome.activity_id) if outcome.activity_id else None
    product_url = (activity.product_url if activity else None) or get_settings().product_home_url
    if not product_url:
        what = (
            f"the activity {activity.title if activity else outcome.activity_id}"
            if outcome.activity_id
            else ("the product's home page")
        )
        html = pages.message_page(
            "You're in",
            [
                f"You are enrolled in {outcome.course.title}, and your grades here will reach the LMS.",
                f"This deployment does not know the web address of {what} yet, so there is nothing to open. "
                "Tell your instructor; you can close this page.",
            ],
            correlation_id=http.request_id,
        )
        return WebResponse(200, html, headers=dict(NO_STORE))
    if outcome.role == "learner":
        # The learner id in the token is issued to the product(s) it goes to: only they may report on it.
        grant_handoff(
            container.products(),
            learner_id=outcome.learner_id,
            activity_id=outcome.activity_id,
            platform_id=outcome.course.platform_id,
            now=now,
        )
    token = handoff.handoff_token(
        keys,
        base_url=base,
        learner_id=outcome.learner_id,
        course_id=outcome.course.course_id,
        activity_id=outcome.activity_id,
        roles=facts.roles,
        role=outcome.role,
        now=now,
    )
    return WebResponse(302, headers={"Location": handoff.with_token(product_url, token), **NO_STORE})
