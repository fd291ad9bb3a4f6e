"""What the gradebook routes do: check the session, read the course, render."""

from __future__ import annotations

from datetime import datetime
from html import escape

from passback import container
from passback.web import pages, session
from passback.web.http import HttpRequest, WebResponse

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class Forbidden(Exception):
    pass


def authorised(http: HttpRequest, course_id: str, now: datetime) -> session.Session:
    """The instructor's session for this very course, from the `s` parameter or the cookie."""
    token = http.param("s") or http.cookies.get(session.SESSION_COOKIE)
    try:
        found = session.verify(container.tool_keys(), token, now=now)
    except session.SessionError as error:
        raise Forbidden(str(error)) from error
    if found.course_id != course_id:
        raise Forbidden("this session belongs to another course: open the gradebook from that course's LMS link")
    if not found.is_instructor:
        raise Forbidden("only the course's instructors can see the gradebook")
    return found


def forbidden(http: HttpRequest, reason: str) -> WebResponse:
    html = pages.message_page("Not allowed", [f"You cannot open this page: {reason}."], correlation_id=http.request_id)
    return WebResponse(403, html, headers=dict(PRIVATE))


def frame_headers(current: session.Session) -> dict[str, str]:
    """The page may be framed by the course's LMS and nobody else."""
    ancestors = f"'self' {current.lms_origin}" if current.lms_origin else "'self'"
    return {**PRIVATE, "Content-Security-Policy": f"frame-ancestors {ancestors}"}


def page(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    try:
        current = authorised(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    if course is None:
        return forbidden(http, "this course does not exist")
    learners, _ = container.enrollments().page(course_id, None, 1000)
    links = "".join(
        f"<li>{escape(link.title or link.resource_link_id)}: "
        f"{'activity ' + escape(link.activity_id) if link.activity_id else 'homepage link'}</li>"
        for link in course.links.values()
    )
    people = "".join(f"<li>{escape(e.name or e.learner_id)} ({escape(e.role)})</li>" for e in learners)
    body = f"<h1>{escape(course.title)}</h1><h2>Links</h2><ul>{links}</ul><h2>People</h2><ul>{people}</ul>"
    return WebResponse(200, pages.layout(course.title, body), headers=frame_headers(current))
