"""LTI Deep Linking 2.0: the request's checks, the picker's signed state, and the signed response.

The request arrives at the same launch URL as a resource link launch and goes through every check
of `lti13.PassbackMessageLaunch` (signature, times, state, nonce consumed once); this module adds
what is particular to deep linking. The response is pylti1p3's `DeepLink`, with its gaps closed here:

- pylti1p3 signs with a private key kept on the registration; Passback signs with the tool's
  current key (`ToolKeys`, the kid the JWKS serves), so a key rotation needs no registration edit;
- its `iat`/`exp` read the wall clock and live ten minutes; here they come from Passback's clock,
  `iat` 30 s early (Moodle refuses an `iat` ahead of its own clock), and live five minutes from that
  (the platform consumes the response at once);
- its auto-post form puts `deep_link_return_url` into HTML unescaped; here it is escaped, and the
  URL must be on the platform's own host (its registered URLs, or the page that posted the request):
  a signed request naming another host is refused, so the JWT is never posted anywhere else;
- nothing of the request travels through the browser unsigned: between the picker and its answer the
  request (return URL, `data`, deployment) rides in a short-lived token signed with the tool's key,
  used once (its `jti` is consumed), so an edited `data` or return URL is refused, not echoed.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from pylti1p3.registration import Registration

from passback.data.launch_state import NonceStore
from passback.domain.launches import students_enroll_themselves
from passback.lti.errors import RELAUNCH, LaunchRefused
from passback.tool_keys import ToolKeys, issued_at

DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CONTENT_ITEMS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
RESOURCE_LINK = "ltiResourceLink"
PICKER_AUDIENCE = "passback-deep-linking"
PICKER_LIFETIME = timedelta(minutes=30)
RESPONSE_LIFETIME = timedelta(minutes=5)
MAX_DATA_CHARS = 4096
MAX_URL_CHARS = 2048
# The tag every Passback line item carries, so the tool can find its own columns again.
LINE_ITEM_TAG = "passback"


@dataclass(frozen=True)
class DeepLinkingRequest:
    """A validated deep-linking request: who asks, from which course, and where the answer goes."""

    issuer: str
    client_id: str
    deployment_id: str
    context_id: str
    context_title: str | None
    user_id: str
    roles: tuple[str, ...]
    return_url: str
    accept_multiple: bool
    data: Any = None
    title: str | None = None
    accept_targets: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_staff(self) -> bool:
        return students_enroll_themselves(self.roles) == "instructor"


@dataclass(frozen=True)
class Choice:
    """One item the instructor picked: an activity link (activity_id set) or the homepage link."""

    activity_id: str | None
    title: str


def request_of(body: dict[str, Any], client_id: str) -> DeepLinkingRequest:
    """The request's facts from an id_token whose signature, times and nonce were checked."""
    claim = "https://purl.imsglobal.org/spec/lti/claim/"
    settings = body.get(SETTINGS_CLAIM)
    context = body.get(claim + "context")
    roles = body.get(claim + "roles")
    missing = [
        name
        for name, value in (
            ("deep_linking_settings", settings),
            ("context", context),
            ("roles", roles),
            ("sub", body.get("sub")),
            ("deployment_id", body.get(claim + "deployment_id")),
        )
        if value in (None, "", {})
    ]
    if missing:
        raise LaunchRefused(
            "required claims",
            f"the deep-linking request lacks {', '.join(missing)}.",
            "The LMS administrator should check the tool's deep-linking placement is inside a course.",
        )
    if not isinstance(settings, dict) or not isinstance(context, dict) or not isinstance(roles, list):
        raise LaunchRefused("claim format", "the deep-linking request's claims have the wrong shape.", RELAUNCH)
    return_url = settings.get("deep_link_return_url")
    if not isinstance(return_url, str) or not return_url or len(return_url) > MAX_URL_CHARS:
        raise LaunchRefused("deep linking", "the request has no usable deep_link_return_url.", RELAUNCH)
    accept = settings.get("accept_types")
    if not isinstance(accept, list) or RESOURCE_LINK not in accept:
        raise LaunchRefused(
            "deep linking",
            "this LMS placement does not accept LTI resource links (accept_types).",
            "The LMS administrator should use a placement that accepts LTI links (docs/lms-setup.md).",
        )
    data = settings.get("data")
    if data is not None and len(str(data)) > MAX_DATA_CHARS:
        raise LaunchRefused("deep linking", f"the request's data is over {MAX_DATA_CHARS} characters.", RELAUNCH)
    multiple = settings.get("accept_multiple")
    targets = settings.get("accept_presentation_document_targets")
    return DeepLinkingRequest(
        issuer=str(body["iss"]),
        client_id=client_id,
        deployment_id=str(body[claim + "deployment_id"]),
        context_id=str(context.get("id") or ""),
        context_title=context.get("title") if isinstance(context.get("title"), str) else None,
        user_id=str(body["sub"]),
        roles=tuple(str(r) for r in roles),
        return_url=return_url,
        accept_multiple=multiple is True or multiple == "true",
        data=data,
        title=settings.get("title") if isinstance(settings.get("title"), str) else None,
        accept_targets=tuple(str(t) for t in targets) if isinstance(targets, list) else (),
    )


def check_return_url(return_url: str, registration: Registration, origin: str | None) -> None:
    """The answer goes back to the platform only: its registered hosts, or the page that posted the request.

    Canvas serves the request from the institution's own host (not its issuer's), which the browser
    names in the request's Origin; Moodle's is its own wwwroot, the host of every registered URL.
    """
    parts = urlsplit(return_url)
    issuer_scheme = urlsplit(str(registration.get_issuer())).scheme
    secure_enough = parts.scheme == "https" or (parts.scheme == "http" and issuer_scheme == "http")
    registered = {
        urlsplit(str(url)).netloc.lower()
        for url in (
            registration.get_issuer(),
            registration.get_auth_login_url(),
            registration.get_auth_token_url(),
            registration.get_key_set_url(),
            origin,
        )
        if url
    }
    if not secure_enough or not parts.netloc or parts.netloc.lower() not in registered:
        raise LaunchRefused(
            "deep link return URL",
            f"the deep_link_return_url's host {parts.netloc[:100]!r} is not this LMS's "
            f"(expected one of {', '.join(sorted(registered))[:300]}).",
            "The LMS administrator should check the issuer and URLs registered in Passback are this LMS's.",
            status=403,
        )


# ---------------------------------------------------------------- the picker's signed state


def picker_token(keys: ToolKeys, request: DeepLinkingRequest, *, base_url: str, now: datetime) -> str:
    claims = {
        "iss": base_url,
        "aud": PICKER_AUDIENCE,
        "sub": request.user_id,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + PICKER_LIFETIME).timestamp()),
        "platform_iss": request.issuer,
        "client_id": request.client_id,
        "deployment_id": request.deployment_id,
        "context_id": request.context_id,
        "context_title": request.context_title,
        "roles": list(request.roles),
        "return_url": request.return_url,
        "accept_multiple": request.accept_multiple,
        "data": request.data,
    }
    return keys.sign(claims)


def verify_picker_token(keys: ToolKeys, nonces: NonceStore, token: str | None, now: datetime) -> DeepLinkingRequest:
    """The request the picker was opened for; refused when edited, expired or already answered."""
    advice = "Close this window and choose the tool again from the LMS."
    if not token or len(token) > 64 * 1024:
        raise LaunchRefused("deep linking", "the selection carries no deep-linking request.", advice)
    try:
        header = jwt.get_unverified_header(token)
        jwk = next((k for k in keys.jwks()["keys"] if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            raise jwt.InvalidTokenError("unknown kid")
        claims = jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=["RS256"],
            audience=PICKER_AUDIENCE,
            options={"verify_exp": False, "require": ["exp", "jti", "return_url", "platform_iss"]},
        )
    except jwt.InvalidTokenError as error:
        raise LaunchRefused(
            "deep linking", "the selection's deep-linking request was altered or is not Passback's.", advice, status=403
        ) from error
    if int(claims["exp"]) <= now.timestamp():
        raise LaunchRefused("deep linking", "the selection page has expired (30 minutes).", advice, status=403)
    keep = datetime.fromtimestamp(int(claims["exp"]), now.tzinfo)
    if not nonces.consume("deep-link", str(claims["jti"]), now, keep):
        raise LaunchRefused("deep linking", "this selection was already sent to the LMS.", advice, status=403)
    return DeepLinkingRequest(
        issuer=str(claims["platform_iss"]),
        client_id=str(claims["client_id"]),
        deployment_id=str(claims["deployment_id"]),
        context_id=str(claims["context_id"]),
        context_title=claims.get("context_title"),
        user_id=str(claims["sub"]),
        roles=tuple(claims.get("roles") or ()),
        return_url=str(claims["return_url"]),
        accept_multiple=bool(claims.get("accept_multiple")),
        data=claims.get("data"),
    )


# ---------------------------------------------------------------- the response


class PassbackDeepLink(DeepLink):
    """pylti1p3's DeepLink, signed with the tool's current key on Passback's clock."""

    def __init__(self, request: DeepLinkingRequest, keys: ToolKeys, now: datetime) -> None:
        registration = Registration().set_issuer(request.issuer).set_client_id(request.client_id)
        settings: dict[str, Any] = {
            "deep_link_return_url": request.return_url,
            "accept_types": [RESOURCE_LINK],
            "accept_presentation_document_targets": ["iframe", "window"],
        }
        if request.data is not None:
            settings["data"] = request.data
        super().__init__(registration, request.deployment_id, settings)  # type: ignore[arg-type]
        self._keys = keys
        self._now = now

    def get_message_jwt(self, resources: Any) -> dict[str, object]:
        message = super().get_message_jwt(resources)
        issued = issued_at(self._now)  # a little earlier: Moodle checks iat against its clock without leeway
        message.update({"iat": issued, "exp": issued + int(RESPONSE_LIFETIME.total_seconds())})
        if message.get("https://purl.imsglobal.org/spec/lti-dl/claim/data") is None:
            # The spec: data is echoed when the request had it; absent otherwise, not null.
            message.pop("https://purl.imsglobal.org/spec/lti-dl/claim/data", None)
        items = message.get(CONTENT_ITEMS_CLAIM)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and not item.get("custom"):
                # pylti1p3 always writes `custom`, {} when empty. Moodle reads the claims as PHP arrays and
                # writes them back as JSON, so {} becomes [], and its contentitem_return.php then fails
                # (params_to_string() on an array): the homepage link could not be added. Absent is the spec's "none".
                item.pop("custom", None)
        return message

    def encode_jwt(self, message: Any) -> str:
        return self._keys.sign(dict(message))

    def get_response_form_html(self, jwt_val: str) -> str:
        action = html.escape(str(self._deep_link_settings["deep_link_return_url"]), quote=True)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Adding to the course</title></head>'
            f'<body><form id="lti13_deep_link_auto_submit" action="{action}" method="POST">'
            f'<input type="hidden" name="JWT" value="{html.escape(jwt_val, quote=True)}">'
            '<noscript><button type="submit">Add to the course</button></noscript></form>'
            "<script>document.getElementById('lti13_deep_link_auto_submit').submit();</script></body></html>"
        )


def content_items(choices: list[Choice], launch_url: str) -> list[DeepLinkResource]:
    """One ltiResourceLink per choice. An activity link names its activity and asks the LMS for its
    column (scoreMaximum 100, rule 5); the homepage link gets its column from Passback at first launch."""
    resources: list[DeepLinkResource] = []
    for choice in choices:
        resource = DeepLinkResource().set_url(launch_url).set_title(choice.title)
        if choice.activity_id:
            resource.set_custom_params({"activity_id": choice.activity_id})
            resource.set_lineitem(
                LineItem()
                .set_score_maximum(100)
                .set_label(choice.title)
                .set_resource_id(choice.activity_id)
                .set_tag(LINE_ITEM_TAG)
            )
        else:
            resource.set_custom_params({})
        resources.append(resource)
    return resources


def response_form(
    request: DeepLinkingRequest, choices: list[Choice], keys: ToolKeys, launch_url: str, now: datetime
) -> str:
    deep_link = PassbackDeepLink(request, keys, now)
    return str(deep_link.output_response_form(content_items(choices, launch_url)))
