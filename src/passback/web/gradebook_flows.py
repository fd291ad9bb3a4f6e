"""What the gradebook routes do: check the session (and the CSRF value on actions), read, render.

Every request needs the instructor's session for this very course: the `s` field of the page's
own forms (POST bodies: LMS iframes may block third-party cookies) or the `pb_session` cookie.
A URL never carries a session: the launch's redirect carries a one-time ticket (`t`) that the
page's first load exchanges for one (`web/session.py`). Every action also needs the `csrf` form
field, which only the page itself knows. Anything else is a 403. The actions are in
`gradebook_actions.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from passback import container
from passback.observability import logger
from passback.services.gradebook import GradebookView
from passback.services.gradebook_export import history_csv, to_csv
from passback.services.gradebook_select import ViewOptions, select
from passback.web import gradebook_live, gradebook_page, pages, session
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
    """The page may be framed by the course's LMS and nobody else; it runs only its own hashed script."""
    ancestors = f"'self' {current.lms_origin}" if current.lms_origin else "'self'"
    policy = (
        f"default-src 'none'; style-src {gradebook_page.style_hash()}; "
        f"script-src {gradebook_live.script_hash()}; connect-src 'self'; img-src 'self'; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {ancestors}"
    )
    return {**PRIVATE, "Content-Security-Policy": policy}


def values_of(http: HttpRequest) -> dict[str, str]:
    """The view's options and time zone: the query (links after an action), then the form (wins)."""
    return {**http.query, **http.form}


def zone_of(http: HttpRequest, current: session.Session) -> tuple[tzinfo, bool]:
    """The page's time zone, and whether the page asked for it (`tz`: the script, the person, or the
    page's own forms carrying it on); else the zone the launch carried; else UTC."""
    requested = parse_zone(values_of(http).get("tz"))
    if requested is not None:
        return requested, True
    return parse_zone(current.time_zone) or UTC, False


def parse_zone(name: str | None) -> tzinfo | None:
    """An IANA time zone name, or None; nothing but a name is ever looked up."""
    text = (name or "").strip()
    if not text or len(text) > 64 or ".." in text or text.startswith("/"):
        return None
    if text.upper() in ("UTC", "ETC/UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def build(http: HttpRequest, current: session.Session, course_id: str, now: datetime) -> GradebookView | None:
    zone, _ = zone_of(http, current)
    return container.gradebook().build(course_id, now, zone)


def render(
    http: HttpRequest,
    view: GradebookView,
    current: session.Session,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
    cookies: list[str] | None = None,
    confirm: gradebook_page.Confirmation | None = None,
) -> WebResponse:
    values = values_of(http)
    html = gradebook_page.render(
        view,
        token=current.token,
        csrf=current.csrf,
        session_expires=current.expires,
        done=done if done is not None else values.get("done"),
        error=error,
        selection=select(view, ViewOptions.parse(values)),
        confirm=confirm,
        zone_chosen=zone_of(http, current)[1],
        watch=values.get("watch") == "1",
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
    view = build(http, current, course_id, now)
    if view is None:
        return forbidden(http, "this course does not exist")
    return render(http, view, current, cookies=cookies)


def live(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """The live-status JSON of the page's current view (its own form's fields, with the CSRF value)."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return WebResponse(403, gradebook_live.to_json({"error": str(error)}), "application/json", dict(PRIVATE))
    view = build(http, current, course_id, now)
    if view is None:
        return WebResponse(404, gradebook_live.to_json({"error": "no such course"}), "application/json", PRIVATE)
    selection = select(view, ViewOptions.parse(values_of(http)))
    base = gradebook_page.page_path(course_id)
    data = gradebook_live.payload(view, selection, base, gradebook_page.glance(view, base))
    return WebResponse(200, gradebook_live.to_json(data), "application/json", headers=frame_headers(current))


def _download(current: session.Session, body: str, filename: str) -> WebResponse:
    headers = {**frame_headers(current), "Content-Disposition": f'attachment; filename="{filename}"'}
    return WebResponse(200, body, content_type="text/csv; charset=utf-8", headers=headers)


def _file_name(view: GradebookView, kind: str, now: datetime) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M")
    name = "".join(ch if ch.isalnum() else "-" for ch in view.course.title)[:60].strip("-") or "course"
    return f"{kind}-{name}-{stamp}.csv"


def export_csv(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    try:
        current = authorised(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    view = build(http, current, course_id, now)
    if view is None:
        return forbidden(http, "this course does not exist")
    return _download(current, to_csv(view), _file_name(view, "gradebook", now))


def export_history(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """One activity's attempt history (what support asks for): every learner's last attempts per link."""
    try:
        current = authorised(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    view = build(http, current, course_id, now)
    if view is None:
        return forbidden(http, "this course does not exist")
    activity_id = values_of(http).get("activity") or ""
    if activity_id not in view.course.activities:
        html = pages.message_page(
            "Not done", ["That activity is not assigned in this course."], correlation_id=http.request_id
        )
        return WebResponse(400, html, headers=dict(PRIVATE))
    return _download(current, history_csv(view, activity_id), _file_name(view, f"history-{activity_id}", now))
