"""The links in the "Confirm your request to merge accounts" email (rule 12).

GET only shows the request with a Confirm and a Decline button: mail scanners fetch links, so
nothing changes until a person POSTs. Each refusal says what failed and what to do.
"""

from __future__ import annotations

from html import escape

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback import container
from passback.clock import utcnow
from passback.services.merges import LinkOutcome, LinkResult
from passback.web import pages
from passback.web.events import request_of, response_of
from passback.web.http import HttpRequest, WebResponse

router = APIGatewayHttpRouter()

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}

# status, title, what failed, what to do
REFUSALS: dict[LinkOutcome, tuple[int, str, str, str]] = {
    LinkOutcome.MALFORMED: (
        400,
        "This link is incomplete",
        "The link has no merge token, or only part of one (some mail programs break long links).",
        "Copy the whole link from the email into your browser's address bar.",
    ),
    LinkOutcome.TAMPERED: (
        403,
        "This link is not valid",
        "The link's signature does not match: it was changed after Passback sent it, or it was not sent by Passback.",
        "Use the link exactly as it arrived in the email. To get a new one, open the course from your LMS again.",
    ),
    LinkOutcome.EXPIRED: (
        410,
        "This link has expired",
        "Merge links work for 24 hours; this one is older, so the request lapsed and both accounts stayed apart.",
        "Your LMS account stays separate from your existing account. Contact support with the reference below.",
    ),
    LinkOutcome.USED: (
        409,
        "This link was already used",
        "Each merge link works once, and this request has already been answered.",
        "Nothing more to do. If you did not answer it yourself, tell support at once.",
    ),
    LinkOutcome.UNKNOWN: (
        410,
        "This merge request no longer exists",
        "Passback has no record of the request this link names (old requests are deleted).",
        "Your accounts stay as they are. Contact support with the reference below if they should be one.",
    ),
}


@router.get("/merge/confirm")
def show() -> Response[str]:
    http = request_of(router.current_event)
    return response_of(render(http, container.merges().check(http.query.get("token", ""), utcnow())))


@router.post("/merge/confirm")
def confirm() -> Response[str]:
    http = request_of(router.current_event)
    return response_of(render(http, container.merges().confirm(http.form.get("token", ""), utcnow())))


@router.post("/merge/decline")
def decline() -> Response[str]:
    http = request_of(router.current_event)
    return response_of(render(http, container.merges().decline(http.form.get("token", ""), utcnow())))


def render(http: HttpRequest, result: LinkResult) -> WebResponse:
    if result.outcome in REFUSALS:
        status, title, detail, advice = REFUSALS[result.outcome]
        body = (
            '<div class="box refused" role="alert">'
            f"<h1>{escape(title)}</h1>"
            f"<dl><dt>What failed</dt><dd>{escape(detail)}</dd>"
            f"<dt>What to do</dt><dd>{escape(advice)}</dd></dl>"
            f'<p class="muted">HTTP {status}. Reference for support: <code>{escape(http.request_id)}</code></p></div>'
        )
        return WebResponse(status, pages.layout(title, body), headers=dict(NO_STORE))
    request = result.request
    assert request is not None
    course = request.course_title or "a course in your LMS"
    if result.outcome is LinkOutcome.CONFIRMED:
        html = pages.message_page(
            "Accounts merged",
            [
                f"Your LMS account and your existing account are now one. Your earlier work counts in {course}, "
                "and its grades are on their way to the LMS (usually within seconds).",
                "You can close this page.",
            ],
            correlation_id=http.request_id,
        )
        return WebResponse(200, html, headers=dict(NO_STORE))
    if result.outcome is LinkOutcome.DECLINED:
        html = pages.message_page(
            "Merge declined",
            [
                "Nothing was merged: your existing account and its work are unchanged, and the LMS account stays "
                "separate. The link no longer works.",
            ],
            correlation_id=http.request_id,
        )
        return WebResponse(200, html, headers=dict(NO_STORE))
    token = escape(http.query.get("token", ""))
    until = request.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    body = (
        '<div class="box"><h1>Confirm your request to merge accounts</h1>'
        f"<p>Someone opened <strong>{escape(course)}</strong> from their LMS with the email address "
        f"<strong>{escape(request.email)}</strong>, which belongs to an existing account with work in it.</p>"
        "<p>If that was you, confirm: the LMS account and the existing account become one, your earlier work counts "
        "in that course and its grades are sent to the LMS. If it was not you, decline: nothing changes.</p>"
        f'<form method="post" action="/merge/confirm" style="display:inline">'
        f'<input type="hidden" name="token" value="{token}"><button type="submit">Confirm</button></form> '
        f'<form method="post" action="/merge/decline" style="display:inline">'
        f'<input type="hidden" name="token" value="{token}"><button type="submit">Decline</button></form>'
        f'<p class="muted">This link works once, until {escape(until)}.</p></div>'
    )
    return WebResponse(200, pages.layout("Confirm your request to merge accounts", body), headers=dict(NO_STORE))
