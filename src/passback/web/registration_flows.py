"""LTI Dynamic Registration and the tool's published configurations, from plain request to plain response."""

from __future__ import annotations

import json
from datetime import datetime

from passback import container
from passback.lti.descriptions import canvas_json, moodle_form_text
from passback.lti.platform_registration import RegistrationRefused
from passback.observability import logger
from passback.web import registration_pages as pages
from passback.web.http import HttpRequest, WebResponse, public_base_url

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _refused(error: RegistrationRefused, http: HttpRequest) -> WebResponse:
    # Never the invite or the registration token: the check and its detail only.
    logger.warning(
        "registration refused",
        extra={"check": error.check, "detail": error.detail[:300], "status": error.status},
    )
    html = pages.refused_page(
        status=error.status, check=error.check, detail=error.detail, advice=error.advice, correlation_id=http.request_id
    )
    return WebResponse(error.status, html, headers=dict(NO_STORE))


def _params(http: HttpRequest) -> tuple[str | None, str | None, str | None]:
    return http.param("invite"), http.param("openid_configuration"), http.param("registration_token")


def start(http: HttpRequest, now: datetime) -> WebResponse:
    """GET: the LMS opened the registration URL. Check, then ask the admin to confirm."""
    invite, openid_configuration, token = _params(http)
    try:
        config = container.registrations().prepare(invite, openid_configuration, token, now)
    except RegistrationRefused as error:
        return _refused(error, http)
    html = pages.confirm_page(
        config,
        invite=invite,
        openid_configuration=openid_configuration or "",
        registration_token=token,
        action=f"{public_base_url(http)}/lti13/register",
    )
    return WebResponse(200, html, headers=dict(NO_STORE))


def finish(http: HttpRequest, now: datetime) -> WebResponse:
    """POST: register with the platform, store it, and tell the LMS to close the window."""
    invite, openid_configuration, token = _params(http)
    try:
        done = container.registrations().register(invite, openid_configuration, token, public_base_url(http), now)
    except RegistrationRefused as error:
        return _refused(error, http)
    html = pages.done_page(
        issuer=done.platform.issuer,
        client_id=done.platform.client_id,
        deployment_id=done.deployment_id,
        updated=done.updated,
        correlation_id=http.request_id,
    )
    return WebResponse(200, html, headers=dict(NO_STORE))


def configuration(http: HttpRequest, lms: str) -> WebResponse:
    """The tool's configuration in an LMS's own format: Canvas's JSON, Moodle's form, the logo."""
    base = public_base_url(http)
    cache = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    if lms in ("canvas", "canvas.json"):
        return WebResponse(200, json.dumps(canvas_json(base), indent=2), "application/json", headers=cache)
    if lms in ("moodle", "moodle.txt"):
        return WebResponse(200, moodle_form_text(base) + "\n", "text/plain; charset=utf-8", headers=cache)
    if lms == "logo.svg":
        return WebResponse(200, pages.LOGO_SVG, "image/svg+xml", headers=cache)
    return WebResponse(
        404,
        f"No configuration named {lms[:40]!r}: use {base}/lti13/config/canvas.json or {base}/lti13/config/moodle.\n",
        "text/plain; charset=utf-8",
    )
