"""What the gradebook routes do: check the session (and the CSRF value on actions), act, render.

Every request needs the instructor's session for this very course: the `s` field of the page's
own forms (POST bodies: LMS iframes may block third-party cookies) or the `pb_session` cookie.
A URL never carries a session: the launch's redirect carries a one-time ticket (`t`) that the
page's first load exchanges for one (`web/session.py`). Every action also needs the `csrf` form
field, which only the page itself knows. Anything else is a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime

from passback import container
from passback.domain.release import ReleasePolicy
from passback.observability import logger
from passback.services.course_settings import SettingRefused
from passback.services.gradebook import GradebookView, to_csv
from passback.web import gradebook_page, pages, session
from passback.web.http import HttpRequest, WebResponse, public_base_url

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


class Forbidden(Exception):
    pass


def authorised(http: HttpRequest, course_id: str, now: datetime) -> session.Session:
    """The instructor's session for this very course, from the page's form (`s`) or the cookie.

    Never from the query string: a URL is what people copy.
    """
    token = http.form.get("s") or http.cookies.get(session.SESSION_COOKIE)
    try:
        found = session.verify(container.tool_keys(), token, now=now)
    except session.SessionError as error:
        raise Forbidden(str(error)) from error
    return _for_course(found, course_id)


def _spend_ticket(jti: str, keep_until: datetime, now: datetime) -> bool:
    return container.nonces().consume("gradebook-ticket", jti, now, keep_until)


def from_ticket(http: HttpRequest, course_id: str, now: datetime) -> tuple[session.Session, list[str]]:
    """The page's first load: exchange the URL's one-time ticket for the session (and its cookie).

    A spent or expired ticket falls back to the cookie (a reload where the browser kept it); a
    copied URL in another browser has neither.
    """
    try:
        found = session.redeem(
            container.tool_keys(),
            http.query.get(session.TICKET_PARAMETER),
            now=now,
            consume=lambda jti, until: _spend_ticket(jti, until, now),
        )
    except session.SessionError as error:
        if http.cookies.get(session.SESSION_COOKIE):
            return authorised(http, course_id, now), []
        raise Forbidden(str(error)) from error
    current = _for_course(found, course_id)
    secure = public_base_url(http).startswith("https://")
    return current, [session.session_cookie(current, secure=secure, now=now)]


def ticket_url(course_id: str, current: session.Session, now: datetime, **extra: str) -> str:
    """A URL for the page that works once (after an action: the 303 lands on it)."""
    token = session.ticket(container.tool_keys(), current, now=now)
    return gradebook_page.page_url(course_id, token, **extra)


def _for_course(found: session.Session, course_id: str) -> session.Session:
    if found.course_id != course_id:
        raise Forbidden("this session belongs to another course: open the gradebook from that course's LMS link")
    if not found.is_instructor:
        raise Forbidden("only the course's instructors can see the gradebook")
    return found


def authorised_action(http: HttpRequest, course_id: str, now: datetime) -> session.Session:
    """An action: the session as above, and the CSRF value from the page's own form."""
    current = authorised(http, course_id, now)
    if not session.csrf_matches(current, http.form.get("csrf")):
        raise Forbidden("this action did not come from the gradebook page (its form token is missing or wrong)")
    return current


def forbidden(http: HttpRequest, reason: str) -> WebResponse:
    logger.warning("gradebook refused", extra={"path": http.path, "method": http.method, "reason": reason})
    html = pages.message_page("Not allowed", [f"You cannot open this page: {reason}."], correlation_id=http.request_id)
    return WebResponse(403, html, headers=dict(PRIVATE))


def frame_headers(current: session.Session) -> dict[str, str]:
    """The page may be framed by the course's LMS and nobody else; it runs no script at all."""
    ancestors = f"'self' {current.lms_origin}" if current.lms_origin else "'self'"
    policy = (
        f"default-src 'none'; style-src {gradebook_page.style_hash()}; img-src 'self'; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {ancestors}"
    )
    return {**PRIVATE, "Content-Security-Policy": policy}


def _render(
    view: GradebookView,
    current: session.Session,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
    cookies: list[str] | None = None,
) -> WebResponse:
    html = gradebook_page.render(
        view,
        token=current.token,
        csrf=current.csrf,
        session_expires=current.expires,
        done=done,
        error=error,
    )
    return WebResponse(status, html, headers=frame_headers(current), cookies=list(cookies or []))


def page(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """GET: the first load (a ticket) or a reload (the cookie). POST: the page's own forms (the `s` field)."""
    cookies: list[str] = []
    try:
        if http.method == "GET" and session.TICKET_PARAMETER in http.query:
            current, cookies = from_ticket(http, course_id, now)
        else:
            current = authorised(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    view = container.gradebook().build(course_id, now)
    if view is None:
        return forbidden(http, "this course does not exist")
    return _render(view, current, done=http.query.get("done"), cookies=cookies)


def export_csv(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    try:
        current = authorised(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    view = container.gradebook().build(course_id, now)
    if view is None:
        return forbidden(http, "this course does not exist")
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M")
    name = "".join(ch if ch.isalnum() else "-" for ch in view.course.title)[:60].strip("-") or "course"
    headers = {
        **frame_headers(current),
        "Content-Disposition": f'attachment; filename="gradebook-{name}-{stamp}.csv"',
    }
    return WebResponse(200, to_csv(view), content_type="text/csv; charset=utf-8", headers=headers)


def _back(course_id: str, current: session.Session, now: datetime, done: str, anchor: str = "") -> WebResponse:
    """Back to the page after an action, on a one-time URL (a browser without the cookie needs it)."""
    location = ticket_url(course_id, current, now, done=done) + (f"#{anchor}" if anchor else "")
    return WebResponse(303, headers={"Location": location, **PRIVATE})


def _bad_request(http: HttpRequest, reason: str) -> WebResponse:
    lines = [reason, "Go back to the gradebook and try again."]
    html = pages.message_page("Not done", lines, correlation_id=http.request_id)
    return WebResponse(400, html, headers=dict(PRIVATE))


def release(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Release Grades for one column: the release function marks it released and sends its grades."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    activity_id = http.form.get("activity") or ""
    course = container.courses().get(course_id)
    if course is None or activity_id not in course.activities:
        return _bad_request(http, "That activity is not assigned in this course.")
    container.jobs().request("release", course_id, now, activity_id=activity_id, requested_by=current.learner_id)
    return _back(course_id, current, now, "released", f"col-{activity_id}")


def resync(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Try again now, skipping the backoff: one cell, one column (activity or homepage link), or the course."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    if course is None:
        return _bad_request(http, "This course does not exist.")
    jobs = container.jobs()
    who = current.learner_id
    cell = http.form.get("cell")
    activity_id = http.form.get("activity")
    link_id = http.form.get("link")
    if cell:
        learner_id, _, link_id = cell.partition(" ")
        if not learner_id or link_id not in course.links:
            return _bad_request(http, "That cell is not in this course.")
        jobs.request("resync", course_id, now, learner_id=learner_id, link_id=link_id, requested_by=who)
        return _back(course_id, current, now, "resync-cell", f"r-{learner_id}")
    if activity_id:
        if activity_id not in course.activities:
            return _bad_request(http, "That activity is not assigned in this course.")
        jobs.request("resync", course_id, now, activity_id=activity_id, requested_by=who)
        return _back(course_id, current, now, "resync-column", f"col-{activity_id}")
    if link_id:
        if link_id not in course.links:
            return _bad_request(http, "That link is not in this course.")
        jobs.request("resync", course_id, now, link_id=link_id, requested_by=who)
        return _back(course_id, current, now, "resync-column", "col-composite")
    jobs.request("resync", course_id, now, requested_by=who)
    return _back(course_id, current, now, "resync-course")


def parse_moment(text: str) -> datetime:
    """A `datetime-local` value (or any ISO 8601 moment); without an offset it is UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refused(http: HttpRequest, course_id: str, current: session.Session, now: datetime, reason: str) -> WebResponse:
    view = container.gradebook().build(course_id, now)
    if view is None:
        return _bad_request(http, reason)
    return _render(view, current, status=400, error=reason)


def set_policy(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    try:
        policy = ReleasePolicy(http.form.get("policy") or "")
    except ValueError:
        return _refused(http, course_id, current, now, "Choose one of the release policies.")
    raw_date = (http.form.get("release_date") or "").strip()
    try:
        release_date = parse_moment(raw_date) if raw_date else None
    except ValueError:
        return _refused(http, course_id, current, now, f"{raw_date!r} is not a date and time.")
    try:
        container.course_settings().set_policy(course_id, policy, release_date, now=now)
    except SettingRefused as refused:
        return _refused(http, course_id, current, now, str(refused))
    logger.info("release policy set", extra={"course": course_id, "policy": policy.value, "by": current.learner_id})
    return _back(course_id, current, now, "policy", "settings")


def set_deadlines(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Save every changed deadline field (`gau-<idx>`); a refused one is reported, the others are saved."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    if course is None:
        return _bad_request(http, "This course does not exist.")
    settings = container.course_settings()
    refusals: list[str] = []
    for activity in sorted(course.activities.values(), key=lambda a: a.idx):
        field = f"gau-{activity.idx}"
        if field not in http.form:
            continue  # a passed deadline's field is disabled, so it is not submitted
        raw = http.form[field].strip()
        current_text = gradebook_page.datetime_local(activity.gau)
        if raw == current_text:
            continue
        try:
            gau = parse_moment(raw) if raw else None
        except ValueError:
            refusals.append(f"{activity.title or activity.activity_id}: {raw!r} is not a date and time.")
            continue
        try:
            settings.set_gau(course_id, activity.activity_id, gau, now)
        except SettingRefused as refused:
            refusals.append(str(refused))
            continue
        logger.info(
            "deadline set",
            extra={"course": course_id, "activity": activity.activity_id, "gau": raw, "by": current.learner_id},
        )
    if refusals:
        return _refused(http, course_id, current, now, " ".join(refusals))
    return _back(course_id, current, now, "gau", "settings")
