"""LTI 1.1 launch forms, signed by oauthlib's own client exactly as a consumer would sign them."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

from .lms import Lms
from .state import SourcedId


def custom_param_name(key: str) -> str:
    # LTI 1.1 section 3: lower-case the name and map anything but letters and digits to "_".
    return "custom_" + re.sub(r"[^a-z0-9]", "_", key.lower())


def is_learner(roles: str) -> bool:
    return any(role.strip().rsplit("/", 1)[-1].lower() == "learner" for role in roles.split(","))


def launch_params(
    lms: Lms,
    consumer_key: str,
    launch_url: str,
    user_id: str,
    context_id: str,
    resource_link_id: str,
    *,
    roles: str = "Learner",
    custom: dict[str, str] | None = None,
    with_outcome: bool = True,
) -> dict[str, str]:
    state = lms.state
    tool = state.tool_by_consumer_key(consumer_key)
    if tool is None or tool.lti11_secret is None:
        raise KeyError(f"no tool registered with LTI 1.1 consumer key {consumer_key!r}")
    with state.lock:
        user = state.user(user_id)
        course = state.course(context_id)
        link = state.link(context_id, resource_link_id)
    params: dict[str, str] = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": link.resource_link_id,
        "resource_link_title": link.title,
        "user_id": user.user_id,
        "roles": roles,
        "lis_person_name_full": user.name,
        "lis_person_name_given": user.given_name,
        "lis_person_name_family": user.family_name,
        "lis_person_contact_email_primary": user.email,
        "context_id": course.context_id,
        "context_title": course.title,
        "context_label": course.label,
        "tool_consumer_instance_guid": lms.guid,
        "tool_consumer_instance_name": lms.product_name,
        "tool_consumer_info_product_family_code": lms.mode,
        "launch_presentation_document_target": "iframe",
        "launch_presentation_return_url": lms.urls.return_url,
    }
    for key, value in {**link.custom, **(custom or {})}.items():
        params[custom_param_name(key)] = value
    if with_outcome and is_learner(roles):
        params["lis_outcome_service_url"] = lms.urls.outcomes
        params["lis_result_sourcedid"] = state.sourcedid_for(
            SourcedId(consumer_key, context_id, resource_link_id, user_id)
        )
    client = Client(
        consumer_key,
        client_secret=tool.lti11_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_BODY,
    )
    _, _, body = client.sign(
        launch_url,
        http_method="POST",
        body=params,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return dict(parse_qsl(str(body), keep_blank_values=True))
