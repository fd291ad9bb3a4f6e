"""Gradebook actions of LTI Advantage: recreate a deleted LMS column, update the roster from the LMS, and
the course's setting for deadline zeros of students who never opened Passback.

Authorised like every gradebook action (the instructor's session for this course and the page's
CSRF value; web/gradebook_flows.py).
"""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback import container
from passback.clock import utcnow
from passback.observability import logger
from passback.services.course_settings import SettingRefused
from passback.services.line_items import ColumnNotRecreated
from passback.web import pages
from passback.web.events import request_of, response_of
from passback.web.gradebook_flows import PRIVATE, Forbidden, authorised_action, forbidden, ticket_url
from passback.web.http import HttpRequest, WebResponse
from passback.web.session import Session

router = APIGatewayHttpRouter()


@router.post("/gradebook/<course_id>/recreate-column")
def recreate_column(course_id: str) -> Response[str]:
    return response_of(recreate(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/roster-sync")
def roster_sync(course_id: str) -> Response[str]:
    return response_of(roster(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/settings/zero-fill")
def zero_fill_setting(course_id: str) -> Response[str]:
    return response_of(zero_fill(request_of(router.current_event), course_id, utcnow()))


def _not_done(http: HttpRequest, reason: str, status: int = 400) -> WebResponse:
    html = pages.message_page("Not done", [reason, "Go back to the gradebook."], correlation_id=http.request_id)
    return WebResponse(status, html, headers=dict(PRIVATE))


def _back(course_id: str, current: Session, now: datetime, done: str) -> WebResponse:
    location = ticket_url(course_id, current, now, done=done)
    return WebResponse(303, headers={"Location": location, **PRIVATE})


def recreate(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """A new LMS column for a link whose column was deleted, then every grade of the link is sent to it."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    link = course.links.get(http.form.get("link") or "") if course else None
    if course is None or link is None:
        return _not_done(http, "That link is not in this course.")
    try:
        container.line_items().recreate(course, link)
    except ColumnNotRecreated as error:
        return _not_done(http, str(error), 409)
    container.jobs().request("resync", course_id, now, link_id=link.link_id, requested_by=current.learner_id)
    logger.info("column recreated", extra={"course": course_id, "link": link.link_id, "by": current.learner_id})
    return _back(course_id, current, now, "column-recreated")


def zero_fill(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Send deadline zeros to students who never opened Passback, or not (rule 13); a change resyncs the course."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    choice = http.form.get("never_opened")
    if choice not in ("on", "off"):
        return _not_done(http, "Choose whether deadline zeros are sent to students who never opened Passback.")
    try:
        changed = container.course_settings().set_zero_fill(course_id, choice == "on", now)
    except SettingRefused as error:
        return _not_done(http, str(error))
    logger.info("zero-fill setting", extra={"course": course_id, "never_opened": choice, "by": current.learner_id})
    return _back(course_id, current, now, "zero-fill" if changed else "zero-fill-same")


def roster(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Read the course's members from the LMS (NRPS), as a course job: thousands of members take a while."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    if course is None:
        return _not_done(http, "This course does not exist.")
    if course.lti_version != "1.3" and not course.lti13_issuer:  # a course migrated from 1.1 has NRPS too
        return _not_done(http, "The course roster needs LTI 1.3 (Names and Role Provisioning); this course is LTI 1.1.")
    container.jobs().request("roster", course_id, now, requested_by=current.learner_id)
    return _back(course_id, current, now, "roster-sync")
