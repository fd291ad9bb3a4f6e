"""What the gradebook routes do: check the session (and the CSRF value on actions), act, render.

Every request needs the instructor's session for this very course: the `s` parameter (links and
forms carry it, for LMS iframes that block third-party cookies) or the `pb_session` cookie. Every
action also needs the `csrf` form field, which only the page itself knows. Anything else is a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from passback import container
from passback.domain.release import ReleasePolicy
from passback.observability import logger
from passback.services.course_settings import SettingRefused
from passback.services.gradebook import GradebookView, to_csv
from passback.web import gradebook_page, pages, session
from passback.web.http import HttpRequest, WebResponse

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


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


def session_expiry(current: session.Session) -> datetime | None:
    """When the (already verified) session ends, to tell the instructor."""
    try:
        claims = jwt.decode(current.token, options={"verify_signature": False})
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (jwt.InvalidTokenError, KeyError, ValueError):
        return None


def _render(
    view: GradebookView,
    current: session.Session,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
) -> WebResponse:
    html = gradebook_page.render(
        view,
        token=current.token,
        csrf=current.csrf,
        session_expires=session_expiry(current),
        done=done,
        error=error,
    )
    return WebResponse(status, html, headers=frame_headers(current))


def page(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    try:
        current = authorised(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    view = container.gradebook().build(course_id, now)
    if view is None:
        return forbidden(http, "this course does not exist")
    return _render(view, current, done=http.query.get("done"))


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


def _back(course_id: str, current: session.Session, done: str, anchor: str = "") -> WebResponse:
    location = gradebook_page.page_url(course_id, current.token, done=done) + (f"#{anchor}" if anchor else "")
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
    return _back(course_id, current, "released", f"col-{activity_id}")


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
        return _back(course_id, current, "resync-cell", f"r-{learner_id}")
    if activity_id:
        if activity_id not in course.activities:
            return _bad_request(http, "That activity is not assigned in this course.")
        jobs.request("resync", course_id, now, activity_id=activity_id, requested_by=who)
        return _back(course_id, current, "resync-column", f"col-{activity_id}")
    if link_id:
        if link_id not in course.links:
            return _bad_request(http, "That link is not in this course.")
        jobs.request("resync", course_id, now, link_id=link_id, requested_by=who)
        return _back(course_id, current, "resync-column", "col-composite")
    jobs.request("resync", course_id, now, requested_by=who)
    return _back(course_id, current, "resync-course")


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
    return _back(course_id, current, "policy", "settings")


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
    return _back(course_id, current, "gau", "settings")
