"""The deep-linking picker: the page an instructor sees in the LMS's frame, and the answer it sends back.

The picker runs no script (it searches on the server) and posts only to Passback. Its state is the
signed picker token (lti/deep_linking.py): a search re-renders the page with the same token; "Add"
consumes it and answers with the auto-posted, signed LtiDeepLinkingResponse.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from html import escape

from passback import container
from passback.data.config_models import Activity
from passback.lti import deep_linking
from passback.lti.deep_linking import Choice, DeepLinkingRequest
from passback.lti.errors import LaunchRefused
from passback.observability import logger
from passback.services.launch import origin_of
from passback.web import pages
from passback.web.http import HttpRequest, WebResponse, public_base_url

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
PICKER_PATH = "/lti13/deep-link"
MAX_SHOWN = 200
MAX_QUERY = 100
HOMEPAGE = "h"  # a choice's value: "h" the homepage link, "a:<id>" an activity link
AUTO_SUBMIT = "document.getElementById('lti13_deep_link_auto_submit').submit();"
PICKER_STYLE = """
table { border-collapse: collapse; width: 100%; margin: .75rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
.search { display: flex; gap: .5rem; margin: .5rem 0; }
.search input { flex: 1; padding: .3rem; }
button { padding: .35rem .9rem; }
"""


# An origin as it may stand in a CSP source list: scheme, host, port; nothing that could end the directive.
ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def lms_origin_of(url: str | None) -> str | None:
    """The origin of `url` when it is a plain origin (the form's lms_origin can be edited)."""
    origin = origin_of(url)
    return origin if origin and ORIGIN.fullmatch(origin) else None


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _picker_headers(lms_origin: str | None) -> dict[str, str]:
    from passback.web.pages import STYLE

    ancestors = f"'self' {lms_origin}" if lms_origin else "'self' https:"
    policy = (
        f"default-src 'none'; style-src {_hash(STYLE + PICKER_STYLE)}; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}"
    )
    return {**PRIVATE, "Content-Security-Policy": policy}


def refused(error: LaunchRefused, http: HttpRequest) -> WebResponse:
    logger.warning("deep linking refused", extra={"check": error.check, "detail": error.detail[:300]})
    html = pages.refused_page(
        status=error.status, check=error.check, detail=error.detail, advice=error.advice, correlation_id=http.request_id
    )
    return WebResponse(error.status, html, headers=dict(PRIVATE))


def open_picker(request: DeepLinkingRequest, http: HttpRequest, now: datetime) -> WebResponse:
    """The validated request from the launch URL: staff get the picker, anyone else a refusal."""
    if not request.is_staff:
        return refused(
            LaunchRefused(
                "role",
                "only the course's instructors and administrators can add Passback content to a course.",
                "Ask your instructor to add the activity; to open an activity, use its link in the course.",
                status=403,
            ),
            http,
        )
    token = deep_linking.picker_token(container.tool_keys(), request, base_url=public_base_url(http), now=now)
    lms_origin = lms_origin_of(http.header("origin")) or lms_origin_of(request.return_url)
    return _picker(request, token, "", lms_origin)


def picker_action(http: HttpRequest, now: datetime) -> WebResponse:
    """The picker's form: search (same token, nothing consumed) or add (token used once)."""
    token = http.form.get("picker")
    keys = container.tool_keys()
    lms_origin = http.form.get("lms_origin") or None
    try:
        if http.form.get("action") != "add":
            request = _peek(token, now)
            return _picker(request, token or "", (http.form.get("q") or "")[:MAX_QUERY], lms_origin_of(lms_origin))
        request = deep_linking.verify_picker_token(keys, container.nonces(), token, now)
        choices = _choices(http, request)
    except LaunchRefused as error:
        return refused(error, http)
    base = public_base_url(http)
    form = deep_linking.response_form(request, choices, keys, f"{base}/lti13/launch", now)
    logger.info(
        "deep linking response",
        extra={"platform_iss": request.issuer, "context": request.context_id, "items": len(choices)},
    )
    return_origin = lms_origin_of(request.return_url) or "'none'"
    policy = f"default-src 'none'; script-src {_hash(AUTO_SUBMIT)}; form-action {return_origin}; base-uri 'none'"
    return WebResponse(200, form, headers={**PRIVATE, "Content-Security-Policy": policy})


def _peek(token: str | None, now: datetime) -> DeepLinkingRequest:
    """The request a search is for: verified like an add, but its token stays unused."""

    class _Unused:
        def consume(self, *_: object) -> bool:
            return True

    return deep_linking.verify_picker_token(container.tool_keys(), _Unused(), token, now)  # type: ignore[arg-type]


def _choices(http: HttpRequest, request: DeepLinkingRequest) -> list[Choice]:
    catalog = container.catalog()
    picked = [value for name, value in sorted(http.form.items()) if name.startswith("pick-") and value]
    homepage = bool(http.form.get("homepage")) or HOMEPAGE in picked
    choices: list[Choice] = []
    for activity_id in dict.fromkeys(v[2:] for v in picked if v.startswith("a:")):
        activity = catalog.get(activity_id)
        if activity is None:
            raise LaunchRefused(
                "deep linking", f"there is no activity {activity_id[:100]!r} in the catalog.", "Choose it again."
            )
        choices.append(Choice(activity_id=activity.activity_id, title=str(activity.title)))
    if homepage:
        title = f"{request.context_title or 'Course'} home" if request.context_title else "Course home"
        choices.append(Choice(activity_id=None, title=title))
    if not choices:
        raise LaunchRefused("deep linking", "nothing was selected.", "Go back, tick an activity or the homepage link.")
    if len(choices) > 1 and not request.accept_multiple:
        raise LaunchRefused(
            "deep linking",
            "this LMS placement takes one item at a time, and several were selected.",
            "Go back and choose one; add the others one by one.",
        )
    return choices


def _matching(activities: list[Activity], query: str) -> list[Activity]:
    words = query.lower().split()
    found = [a for a in activities if all(w in f"{a.title} {a.activity_id}".lower() for w in words)]
    return sorted(found, key=lambda a: (str(a.title).lower(), a.activity_id))


def _picker(request: DeepLinkingRequest, token: str, query: str, lms_origin: str | None) -> WebResponse:
    activities = _matching(container.catalog().list_all(), query)
    kind = "checkbox" if request.accept_multiple else "radio"
    rows = []
    for index, activity in enumerate(activities[:MAX_SHOWN]):
        name = f"pick-{index:04d}" if request.accept_multiple else "pick-0000"
        rows.append(
            f'<tr><td><input type="{kind}" id="a{index}" name="{name}" value="a:{escape(activity.activity_id)}"></td>'
            f'<td><label for="a{index}">{escape(str(activity.title))}</label></td>'
            f"<td>{int(activity.min_questions)}</td><td><code>{escape(activity.activity_id)}</code></td></tr>"
        )
    more = (
        f'<p class="muted">Showing {MAX_SHOWN} of {len(activities)}: search to narrow the list.</p>'
        if len(activities) > MAX_SHOWN
        else ""
    )
    empty = "" if rows else "<p>No activity matches. Clear the search, or ask the product team to publish it.</p>"
    hidden = (
        f'<input type="hidden" name="picker" value="{escape(token)}">'
        f'<input type="hidden" name="lms_origin" value="{escape(lms_origin or "")}">'
    )
    homepage_field = (
        '<input type="checkbox" id="home" name="homepage" value="1">'
        if request.accept_multiple
        else f'<input type="radio" id="home" name="pick-0000" value="{HOMEPAGE}">'
    )
    homepage_row = (
        f"<p>{homepage_field} "
        '<label for="home"><strong>Homepage link</strong>: the product\'s home page for this course; its column '
        "holds each learner's average over the course's activities.</label></p>"
    )
    body = (
        f"<h1>Add Passback to {escape(request.context_title or 'this course')}</h1>"
        "<p>Choose the activities to add as links. Each activity link gets its own gradebook column in the LMS "
        "(out of 100 %); grades reach it once released.</p>"
        f'<form method="post" action="{PICKER_PATH}" class="search">{hidden}'
        f'<input type="search" name="q" value="{escape(query)}" aria-label="Search activities" '
        'placeholder="Search by title or id"><button name="action" value="search">Search</button></form>'
        f'<form method="post" action="{PICKER_PATH}">{hidden}'
        "<table><thead><tr><th></th><th>Activity</th><th>Minimum questions</th><th>Id</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{more}{empty}{homepage_row}"
        f'<p><button name="action" value="add">Add to the course</button></p></form>'
        + ("" if request.accept_multiple else '<p class="muted">This LMS placement adds one item at a time.</p>')
    )
    html = pages.layout("Add Passback content", body, extra_style=PICKER_STYLE)
    return WebResponse(200, html, headers=_picker_headers(lms_origin))
