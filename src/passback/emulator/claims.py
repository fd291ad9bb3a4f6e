"""LTI 1.3 claim names and scopes, and the id_token claims of a resource link launch."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from .lms import Lms
from .state import COURSE_ROLES

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
CLAIM_MESSAGE_TYPE = LTI + "message_type"
CLAIM_VERSION = LTI + "version"
CLAIM_DEPLOYMENT_ID = LTI + "deployment_id"
CLAIM_TARGET_LINK_URI = LTI + "target_link_uri"
CLAIM_RESOURCE_LINK = LTI + "resource_link"
CLAIM_ROLES = LTI + "roles"
CLAIM_CONTEXT = LTI + "context"
CLAIM_TOOL_PLATFORM = LTI + "tool_platform"
CLAIM_CUSTOM = LTI + "custom"
CLAIM_LAUNCH_PRESENTATION = LTI + "launch_presentation"
CLAIM_AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
CLAIM_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
CLAIM_LTI1P1 = LTI + "lti1p1"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = [SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE]
GRANTABLE_SCOPES = frozenset([*AGS_SCOPES, SCOPE_NRPS])

ID_TOKEN_LIFETIME_S = 300
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"


def role_uris(roles: list[str]) -> list[str]:
    uris: list[str] = []
    for role in roles:
        membership, institution, _ = COURSE_ROLES[role]
        uris.extend([membership, institution])
    return uris


def base_claims(
    lms: Lms,
    client_id: str,
    user_id: str,
    context_id: str,
    resource_link_id: str,
    *,
    nonce: str,
    deployment_id: str | None = None,
) -> dict[str, Any]:
    """The id_token claims the emulator puts in a normal resource link launch."""
    state = lms.state
    with state.lock:
        tool = state.tool(client_id)
        user = state.user(user_id)
        course = state.course(context_id)
        link = state.link(context_id, resource_link_id)
        course_role = state.course_role(context_id, user_id)
        line_item_id = link.line_item_id
        mode = link.line_item_mode
    deployment = deployment_id or tool.deployment_ids[0]
    # A user outside the course has no course role; the launch then carries their account roles,
    # which lets tests launch as an unenrolled user if they want to.
    roles = [course_role] if course_role else user.roles
    now = int(lms.state.now())
    claims: dict[str, Any] = {
        "iss": lms.issuer,
        "aud": client_id,
        "azp": client_id,
        "sub": user.user_id,
        "iat": now,
        "exp": now + ID_TOKEN_LIFETIME_S,
        "nonce": nonce,
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        CLAIM_MESSAGE_TYPE: "LtiResourceLinkRequest",
        CLAIM_VERSION: "1.3.0",
        CLAIM_DEPLOYMENT_ID: deployment,
        CLAIM_TARGET_LINK_URI: tool.launch_url,
        CLAIM_RESOURCE_LINK: {"id": link.resource_link_id, "title": link.title},
        CLAIM_ROLES: role_uris(roles),
        CLAIM_CONTEXT: {
            "id": course.context_id,
            "label": course.label,
            "title": course.title,
            "type": [COURSE_OFFERING],
        },
        CLAIM_TOOL_PLATFORM: {
            "guid": lms.guid,
            "name": lms.product_name,
            "product_family_code": lms.mode,
        },
        CLAIM_CUSTOM: dict(link.custom),
        CLAIM_LAUNCH_PRESENTATION: {"document_target": "iframe", "return_url": lms.urls.return_url},
        CLAIM_NRPS: {
            "context_memberships_url": lms.urls.memberships(context_id, tool.type_id),
            "service_versions": ["2.0"],
        },
    }
    migrated = state.migrated_tools.get(client_id)
    if migrated is not None:
        claims[CLAIM_LTI1P1] = lti1p1_claim(claims, client_id, user.user_id, *migrated, state.legacy_user_ids)
    if mode is not False:
        endpoint: dict[str, Any] = {
            "scope": list(AGS_SCOPES),
            "lineitems": lms.urls.lineitems(context_id, tool.type_id),
        }
        if mode is True and line_item_id is not None:
            endpoint["lineitem"] = lms.urls.lineitem(context_id, line_item_id, tool.type_id)
        claims[CLAIM_AGS] = endpoint
    return claims


def lti1p1_claim(
    claims: dict[str, Any],
    client_id: str,
    user_id: str,
    consumer_key: str,
    secret: str,
    forge: bool,
    legacy_user_ids: dict[str, str],
) -> dict[str, Any]:
    """The LTI 1.1 migration claim a platform adds for a tool that was an LTI 1.1 tool: the 1.1
    consumer key, signed with its secret over key & deployment_id & iss & client_id & exp & nonce
    (1EdTech LTI 1.3 migration guide), and the 1.1 user_id where it differs from `sub`."""
    base = "&".join(
        [consumer_key, claims[CLAIM_DEPLOYMENT_ID], claims["iss"], client_id, str(claims["exp"]), claims["nonce"]]
    )
    key = (secret + "-but-not-the-real-one" if forge else secret).encode("utf-8")
    claim: dict[str, Any] = {
        "oauth_consumer_key": consumer_key,
        "oauth_consumer_key_sign": base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode(),
    }
    if user_id in legacy_user_ids:
        claim["user_id"] = legacy_user_ids[user_id]
    return claim
