"""Deep Linking 2.0 as a platform: the LtiDeepLinkingRequest, and the endpoint that takes the tool's answer.

The answer is checked as a platform must: signed by the tool's key (fetched from its JWKS URL),
`iss` the tool's client id, `aud` this issuer, fresh, of the right message type and deployment, and
carrying back the `data` of a request this LMS sent and that was not answered yet. Then each
`ltiResourceLink` becomes a link in the course, and a `lineItem` becomes its gradebook column.
"""

from __future__ import annotations

import html
import secrets
from typing import Any

import jwt

from .claims import (
    AGS_SCOPES,
    CLAIM_AGS,
    CLAIM_CONTEXT,
    CLAIM_CUSTOM,
    CLAIM_DEPLOYMENT_ID,
    CLAIM_LAUNCH_PRESENTATION,
    CLAIM_MESSAGE_TYPE,
    CLAIM_NRPS,
    CLAIM_ROLES,
    CLAIM_TARGET_LINK_URI,
    CLAIM_TOOL_PLATFORM,
    CLAIM_VERSION,
    COURSE_OFFERING,
    ID_TOKEN_LIFETIME_S,
    role_uris,
)
from .lms import Lms
from .state import LaunchHint, PendingDeepLink
from .tokens import InvalidClientError, ToolKeyCache
from .wire import Request, Response, html_response, text_response

CLAIM_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CLAIM_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
CLAIM_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
RETURN_PATH = "/deep_linking_response"
LEEWAY_S = 60


def login_params(
    lms: Lms,
    client_id: str,
    user_id: str,
    context_id: str,
    *,
    accept_multiple: bool = True,
    return_url: str | None = None,
    deployment_id: str | None = None,
    message_hint_extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The login parameters of a deep-linking request (as an editor's "Select content" button sends)."""
    state = lms.state
    with state.lock:
        tool = state.tool(client_id)
        state.user(user_id)
        state.course(context_id)
    deployment = deployment_id or tool.deployment_ids[0]
    data = f"dl-{secrets.token_hex(8)}"
    with state.lock:
        state.deep_link_requests[data] = PendingDeepLink(client_id, context_id, deployment, user_id)
    settings = {
        "deep_link_return_url": return_url or lms.urls.base + RETURN_PATH,
        "accept_types": ["ltiResourceLink", "link"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": accept_multiple,
        "auto_create": True,
        "title": "Add content",
        "data": data,
    }
    hint = state.issue_hint(
        LaunchHint(
            client_id=client_id,
            user_id=user_id,
            context_id=context_id,
            resource_link_id="",
            deployment_id=deployment,
            extra_claims=dict(message_hint_extra or {}),
            deep_link=settings,
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


def request_claims(lms: Lms, hint: LaunchHint, nonce: str) -> dict[str, Any]:
    state = lms.state
    with state.lock:
        tool = state.tool(hint.client_id)
        user = state.user(hint.user_id)
        course = state.course(hint.context_id)
        course_role = state.course_role(hint.context_id, hint.user_id)
    now = int(state.now())
    return {
        "iss": lms.issuer,
        "aud": hint.client_id,
        "azp": hint.client_id,
        "sub": user.user_id,
        "iat": now,
        "exp": now + ID_TOKEN_LIFETIME_S,
        "nonce": nonce,
        "name": user.name,
        "email": user.email,
        CLAIM_MESSAGE_TYPE: "LtiDeepLinkingRequest",
        CLAIM_VERSION: "1.3.0",
        CLAIM_DEPLOYMENT_ID: hint.deployment_id,
        CLAIM_TARGET_LINK_URI: tool.launch_url,
        CLAIM_ROLES: role_uris([course_role] if course_role else user.roles),
        CLAIM_CONTEXT: {
            "id": course.context_id,
            "label": course.label,
            "title": course.title,
            "type": [COURSE_OFFERING],
        },
        CLAIM_TOOL_PLATFORM: {"guid": lms.guid, "name": lms.product_name, "product_family_code": lms.mode},
        CLAIM_CUSTOM: {},
        CLAIM_LAUNCH_PRESENTATION: {"document_target": "iframe", "return_url": lms.urls.return_url},
        CLAIM_SETTINGS: dict(hint.deep_link or {}),
        CLAIM_AGS: {"scope": list(AGS_SCOPES), "lineitems": lms.urls.lineitems(course.context_id, tool.type_id)},
        CLAIM_NRPS: {
            "context_memberships_url": lms.urls.memberships(course.context_id, tool.type_id),
            "service_versions": ["2.0"],
        },
    }


class DeepLinkRefused(Exception):
    pass


def handle_response(lms: Lms, keys: ToolKeyCache, request: Request) -> Response:
    if request.method != "POST":
        return text_response(405, f"{request.method} is not allowed here")
    try:
        created = _accept(lms, keys, request.form_params().get("JWT") or "")
    except DeepLinkRefused as refusal:
        lms.stats.count("deep_link_refused")
        with lms.state.lock:
            lms.state.deep_link_responses.append({"accepted": False, "reason": str(refusal)})
        return text_response(400, f"deep linking response refused: {refusal}")
    items = "".join(f"<li>{html.escape(title)}</li>" for title in created)
    return html_response(
        200, f"<!DOCTYPE html><title>Content added</title><h1>Content added</h1><ul id='added'>{items}</ul>"
    )


def _accept(lms: Lms, keys: ToolKeyCache, token: str) -> list[str]:
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise DeepLinkRefused(f"the JWT is not a JWT ({exc})") from exc
    client_id = unverified.get("iss")
    with lms.state.lock:
        tool = lms.state.tools.get(client_id) if isinstance(client_id, str) else None
    if tool is None:
        raise DeepLinkRefused(f"iss {client_id!r} is not a registered tool's client id")
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise DeepLinkRefused("the JWT must be RS256 with a kid")
    try:
        key = keys.key(tool.jwks_url, header["kid"])
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=lms.issuer,
            options={"require": ["iss", "aud", "exp", "iat", "nonce"], "verify_exp": False, "verify_iat": False},
        )
    except (InvalidClientError, jwt.PyJWTError) as exc:
        raise DeepLinkRefused(f"the signature or audience does not verify ({exc})") from exc
    now = lms.state.now()
    if claims["exp"] + LEEWAY_S < now or claims["iat"] - LEEWAY_S > now:
        raise DeepLinkRefused("the JWT is expired or issued in the future")
    if claims.get(CLAIM_MESSAGE_TYPE) != "LtiDeepLinkingResponse" or claims.get(CLAIM_VERSION) != "1.3.0":
        raise DeepLinkRefused("message_type must be LtiDeepLinkingResponse, version 1.3.0")
    data = claims.get(CLAIM_DATA)
    with lms.state.lock:
        pending = lms.state.deep_link_requests.get(data) if isinstance(data, str) else None
        if pending is None or pending.client_id != client_id:
            raise DeepLinkRefused("data does not echo a deep-linking request this LMS sent to this tool")
        if pending.answered:
            raise DeepLinkRefused("this deep-linking request was already answered")
        if claims.get(CLAIM_DEPLOYMENT_ID) != pending.deployment_id:
            raise DeepLinkRefused("deployment_id is not the request's")
        items = claims.get(CLAIM_CONTENT_ITEMS) or []
        if not isinstance(items, list):
            raise DeepLinkRefused("content_items must be a list")
        pending.answered = True
        created = [_create(lms, pending, item) for item in items if isinstance(item, dict)]
        lms.state.deep_link_responses.append(
            {"accepted": True, "context_id": pending.context_id, "items": items, "links": created}
        )
    lms.stats.count("deep_link_accepted")
    return created


def _create(lms: Lms, pending: PendingDeepLink, item: dict[str, Any]) -> str:
    """One content item becomes a link (and its column when it asks for one); returns its title."""
    state = lms.state
    if item.get("type") != "ltiResourceLink":
        raise DeepLinkRefused(f"content item type {item.get('type')!r} is not supported by this placement")
    title = str(item.get("title") or "Untitled")
    custom = item.get("custom") or {}
    line_item = item.get("lineItem")
    resource_link_id = f"dl-{len(state.links) + 1}-{secrets.token_hex(3)}"
    state.add_link(
        pending.context_id,
        resource_link_id,
        title=title,
        custom={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
        line_item="container_only",
        score_maximum=100.0,
    )
    if isinstance(line_item, dict):
        maximum = line_item.get("scoreMaximum")
        if not isinstance(maximum, int | float) or maximum <= 0:
            raise DeepLinkRefused("lineItem.scoreMaximum must be a positive number")
        created = state.create_line_item(
            pending.context_id,
            label=str(line_item.get("label") or title),
            score_maximum=float(maximum),
            resource_link_id=resource_link_id,
            resource_id=line_item.get("resourceId"),
            tag=line_item.get("tag"),
        )
        link = state.link(pending.context_id, resource_link_id)
        link.line_item_mode = True
        link.line_item_id = created.id
    return title
