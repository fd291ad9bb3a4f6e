"""LTI 1.3 third-party initiated login: the login parameters and the OIDC authorization endpoint."""

from __future__ import annotations

import html
from typing import Any

from .claims import base_claims
from .lms import Lms
from .state import LaunchHint
from .wire import HttpError, Request, Response, html_response, text_response


def login_params(
    lms: Lms,
    client_id: str,
    user_id: str,
    context_id: str,
    resource_link_id: str,
    *,
    deployment_id: str | None = None,
    message_hint_extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The query parameters the LMS sends to the tool's login initiation URL."""
    state = lms.state
    with state.lock:
        tool = state.tool(client_id)
        state.user(user_id)
        state.link(context_id, resource_link_id)
    deployment = deployment_id or tool.deployment_ids[0]
    hint = state.issue_hint(
        LaunchHint(
            client_id=client_id,
            user_id=user_id,
            context_id=context_id,
            resource_link_id=resource_link_id,
            deployment_id=deployment,
            extra_claims=dict(message_hint_extra or {}),
        )
    )
    return {
        "iss": lms.issuer,
        "login_hint": user_id,
        "target_link_uri": tool.launch_url,
        "lti_message_hint": hint,
        "client_id": client_id,
        "lti_deployment_id": deployment,
    }


_REQUIRED_FIXED = {
    "scope": "openid",
    "response_type": "id_token",
    "response_mode": "form_post",
    "prompt": "none",
}


def _refuse(message: str) -> HttpError:
    return HttpError(text_response(400, f"invalid authentication request: {message}"))


def _checked_params(request: Request) -> dict[str, str]:
    params = request.query_params()
    if request.method == "POST":
        params.update(request.form_params())
    for name, expected in _REQUIRED_FIXED.items():
        value = params.get(name)
        ok = value is not None and (expected in value.split() if name == "scope" else value == expected)
        if not ok:
            raise _refuse(f"{name} must be {expected!r}, got {value!r}")
    for name in ("client_id", "redirect_uri", "login_hint", "lti_message_hint", "nonce", "state"):
        if not params.get(name):
            raise _refuse(f"{name} is missing")
    return params


def handle_auth(lms: Lms, request: Request) -> Response:
    params = _checked_params(request)
    client_id = params["client_id"]
    with lms.state.lock:
        tool = lms.state.tools.get(client_id)
        hint = lms.state.hints.get(params["lti_message_hint"])
    if tool is None:
        raise _refuse(f"unknown client_id {client_id!r}")
    if params["redirect_uri"] != tool.launch_url:
        raise _refuse(f"redirect_uri {params['redirect_uri']!r} is not the registered launch URL")
    if hint is None or hint.client_id != client_id:
        raise _refuse("unknown lti_message_hint for this client")
    if params["login_hint"] != hint.user_id:
        raise _refuse("login_hint does not match lti_message_hint")
    if hint.deep_link is not None:
        from .deep_linking import request_claims

        claims = request_claims(lms, hint, params["nonce"])
        claims.update(hint.extra_claims)
        id_token = lms.keys.sign(claims)
        return html_response(200, auto_post_form(tool.launch_url, {"id_token": id_token, "state": params["state"]}))
    try:
        claims = base_claims(
            lms,
            client_id,
            hint.user_id,
            hint.context_id,
            hint.resource_link_id,
            nonce=params["nonce"],
            deployment_id=hint.deployment_id,
        )
    except KeyError as exc:
        raise _refuse(str(exc.args[0])) from exc
    claims.update(hint.extra_claims)
    id_token = lms.keys.sign(claims)
    return html_response(200, auto_post_form(tool.launch_url, {"id_token": id_token, "state": params["state"]}))


def auto_post_form(action: str, fields: dict[str, str]) -> str:
    inputs = "\n".join(
        f'    <input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Launching tool</title></head>
<body>
  <form id="lti-launch" method="post" action="{html.escape(action)}">
{inputs}
    <noscript><button type="submit">Continue</button></noscript>
  </form>
  <script>document.getElementById("lti-launch").submit();</script>
</body>
</html>
"""
