"""The pages of LTI Dynamic Registration, shown in the LMS's registration window."""

from __future__ import annotations

from html import escape

from passback.lti.descriptions import SCOPES, TOOL_NAME
from passback.lti.platform_registration import PlatformConfiguration
from passback.web.pages import layout

# 1EdTech LTI Dynamic Registration 1.0: the tool tells the platform it is done, and the platform
# closes the registration window (an iframe in Canvas and Moodle, a pop-up elsewhere).
CLOSE_SCRIPT = (
    "<script>(window.opener || window.parent).postMessage({subject: 'org.imsglobal.lti.close'}, '*');</script>"
)


def confirm_page(
    config: PlatformConfiguration,
    *,
    invite: str | None,
    openid_configuration: str,
    registration_token: str | None,
    action: str,
) -> str:
    fields = {"invite": invite, "openid_configuration": openid_configuration, "registration_token": registration_token}
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
        if value
    )
    scopes = "".join(f"<li><code>{escape(scope)}</code></li>" for scope in SCOPES)
    lms = escape(config.product_family_code or "this LMS")
    body = (
        '<div class="box">'
        f"<h1>Register {escape(TOOL_NAME)} in {lms}</h1>"
        f"<p>{escape(TOOL_NAME)} will register itself with the LMS at <code>{escape(config.issuer)}</code>, "
        "which will then be able to launch it and receive grades from it.</p>"
        "<dl><dt>Services it asks for</dt>"
        f"<dd><ul>{scopes}</ul></dd>"
        "<dt>What it needs from launches</dt><dd>the user's id, name and email (for the gradebook and account "
        "merges).</dd></dl>"
        f'<form method="post" action="{escape(action)}">{hidden}'
        f'<button type="submit" id="register">Register {escape(TOOL_NAME)}</button></form>'
        '<p class="muted">The LMS may ask you to review and enable the tool afterwards.</p>'
        "</div>"
    )
    return layout(f"Register {TOOL_NAME}", body)


def done_page(*, issuer: str, client_id: str, deployment_id: str | None, updated: bool, correlation_id: str) -> str:
    what = "updated" if updated else "registered"
    deployment = f" (deployment <code>{escape(deployment_id)}</code>)" if deployment_id else ""
    body = (
        '<div class="box" role="status">'
        f"<h1>{escape(TOOL_NAME)} is {what}</h1>"
        f"<p>The LMS at <code>{escape(issuer)}</code> is {what} as client <code>{escape(client_id)}</code>"
        f"{deployment}. Launches from it work now; there is nothing to copy back to {escape(TOOL_NAME)}.</p>"
        "<p>This window closes by itself; if it does not, close it and go on in the LMS (enable the tool there "
        "if the LMS asks).</p>"
        f'<p class="muted">Reference: <code>{escape(correlation_id)}</code></p>'
        "</div>"
        f"{CLOSE_SCRIPT}"
    )
    return layout(f"{TOOL_NAME} {what}", body)


def refused_page(*, status: int, check: str, detail: str, advice: str, correlation_id: str) -> str:
    body = (
        '<div class="box refused" role="alert">'
        "<h1>The registration was refused</h1>"
        f"<p>{escape(TOOL_NAME)} could not register with this LMS: <strong>{escape(check)}</strong>.</p>"
        f"<dl><dt>What failed</dt><dd>{escape(detail)}</dd>"
        f"<dt>What to do</dt><dd>{escape(advice)}</dd></dl>"
        f'<p class="muted">HTTP {status}. Reference for support: <code>{escape(correlation_id)}</code></p>'
        "</div>"
    )
    return layout("Registration refused", body)


LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
    '<rect width="64" height="64" rx="12" fill="#1a7f37"/>'
    '<path d="M18 34l10 10 18-24" stroke="#fff" stroke-width="6" fill="none" stroke-linecap="round"/></svg>'
)
