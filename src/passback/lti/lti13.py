"""LTI 1.3 launches: pylti1p3, adapted to API Gateway events and with its gaps closed here.

pylti1p3 does the OIDC login mechanics, the registration and deployment lookups and the
message validators. Used in the straightforward way (2.0.0) it accepts launches it should not,
so this module wraps it in one place:

- state is bound server-side at login (DynamoDB, ten minutes, single use) to the nonce sent to
  the platform, and the cookie is checked too when the browser kept it: LMS iframes often block
  third-party cookies, and pylti1p3 knows only the cookie. pylti1p3 also re-validates a state it
  has seen with the same id_token (its "restored launch"), so the same POST could be replayed;
- the nonce is consumed with a conditional write (pylti1p3 checks it but never consumes it);
- `aud` must name our client id, a multi-audience token needs `azp`, and `azp` must be us
  (pylti1p3 compares only `aud[0]` and skips the audience check);
- a token older than ten minutes is refused even if its `exp` is later;
- only RS256/384/512 is accepted, before any key lookup (no `none`, no HMAC with a public key);
- the platform key set is cached and refetched when an unknown `kid` appears (rotation);
- every library error becomes a `LaunchRefused` with the check that failed, never a 500.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from pylti1p3.cookie import CookieService
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.request import Request
from pylti1p3.session import SessionService

from passback.data.launch_state import LaunchStateStore, NonceStore
from passback.ids import platform_key_lti13
from passback.lti.errors import ADMIN_REGISTRATION, RELAUNCH, LaunchRefused
from passback.lti.key_sets import PlatformKeySets
from passback.lti.tool_config import DynamoToolConf
from passback.services.launch import LaunchFacts, origin_of
from passback.web.http import HttpRequest, WebResponse

STATE_TTL = timedelta(minutes=10)
MAX_TOKEN_AGE = timedelta(minutes=10)
LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 64 * 1024
ALGORITHMS = ("RS256", "RS384", "RS512")
STATE_COOKIE = "lti1p3-state"

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"


# ---------------------------------------------------------------- adapters for API Gateway events


class EventRequest(Request):
    def __init__(self, http: HttpRequest) -> None:
        self.http = http

    @property
    def session(self) -> Any:
        raise LtiException("Passback keeps no server session in the request")

    def is_secure(self) -> bool:
        return self.http.secure

    def get_param(self, key: str) -> str:
        return self.http.param(key) or ""


class EventCookies(CookieService):
    """Cookies for a page that lives in an LMS iframe: SameSite=None; Secure; Partitioned on HTTPS."""

    def __init__(self, http: HttpRequest) -> None:
        self.http = http
        self.outgoing: list[str] = []

    def get_cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        attributes = [f"{name}={value}", "Path=/", "HttpOnly"]
        if exp is not None:
            attributes.append(f"Max-Age={exp}")
        if self.http.secure:
            attributes += ["SameSite=None", "Secure", "Partitioned"]
        else:
            attributes.append("SameSite=Lax")  # browsers refuse SameSite=None without Secure
        self.outgoing.append("; ".join(attributes))


class EventRedirect(Redirect[WebResponse]):
    def __init__(self, location: str, cookies: EventCookies) -> None:
        self._location = location
        self._cookies = cookies

    def do_redirect(self) -> WebResponse:
        return WebResponse(
            302, headers={"Location": self._location, "Cache-Control": "no-store"}, cookies=list(self._cookies.outgoing)
        )

    def do_js_redirect(self) -> WebResponse:
        return self.do_redirect()

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


# ---------------------------------------------------------------- login and launch


class PassbackOIDCLogin(OIDCLogin):  # type: ignore[type-arg]
    def __init__(self, http: HttpRequest, tool_conf: DynamoToolConf, states: LaunchStateStore, now: datetime) -> None:
        request = EventRequest(http)
        super().__init__(request, tool_conf, SessionService(request), EventCookies(http))
        self._states = states
        self._now = now

    def get_redirect(self, url: str) -> EventRedirect:
        return EventRedirect(url, self._cookie_service)

    def _prepare_redirect_url(self, launch_url: str) -> str:
        registration = self.validate_oidc_login()
        self._registration = registration
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        issuer, client_id = str(registration.get_issuer()), str(registration.get_client_id())
        self._states.save(state=state, nonce=nonce, issuer=issuer, client_id=client_id, now=self._now, ttl=STATE_TTL)
        self._cookie_service.set_cookie(STATE_COOKIE, state, int(STATE_TTL.total_seconds()))
        params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": client_id,
            "redirect_uri": launch_url,
            "state": state,
            "nonce": nonce,
            "login_hint": self._get_request_param("login_hint"),
        }
        hint = self._get_request_param("lti_message_hint")
        if hint:
            params["lti_message_hint"] = hint
        auth_url = str(registration.get_auth_login_url())
        return auth_url + ("&" if "?" in auth_url else "?") + urlencode(params)


class PassbackMessageLaunch(MessageLaunch):  # type: ignore[type-arg]
    def __init__(
        self,
        http: HttpRequest,
        tool_conf: DynamoToolConf,
        states: LaunchStateStore,
        nonces: NonceStore,
        key_sets: PlatformKeySets,
        now: datetime,
    ) -> None:
        request = EventRequest(http)
        super().__init__(request, tool_conf, session_service=SessionService(request), cookie_service=EventCookies(http))
        self._http = http
        self._states = states
        self._nonces = nonces
        self._key_sets = key_sets
        self._now = now

    def _get_request_param(self, key: str) -> str:
        return str(self._request.get_param(key))

    def _body(self) -> dict[str, Any]:
        return dict(self._jwt.get("body", {}))

    # -- the order of checks: nothing is written before the signature is known good

    def validate(self) -> PassbackMessageLaunch:
        self._validated = True
        try:
            with refusal("request", "The launch request is missing its id_token or state.", RELAUNCH):
                self._check_request()
            with refusal("token format", "The id_token is not a well-formed JWT.", RELAUNCH):
                self.validate_jwt_format()
            self._check_algorithm()
            with refusal(
                "registration", "No registration matches this issuer and client id.", ADMIN_REGISTRATION, status=403
            ):
                self.validate_registration()
            self._check_audience()
            self.validate_jwt_signature()
            with refusal(
                "deployment",
                "This deployment of the tool is not registered in Passback.",
                "The LMS administrator should add the deployment id: `passback platforms add ... "
                "--deployment-id <id>` (docs/lms-setup.md).",
                status=403,
            ):
                self.validate_deployment()
            with refusal(
                "message",
                "The launch message is not a valid LTI 1.3 resource link launch.",
                "The LMS administrator should check the link is an LTI 1.3 resource link.",
            ):
                self.validate_message()
            self._check_message()
            self._consume_state_and_nonce()
        except Exception:
            self._validated = False
            raise
        return self

    def _check_request(self) -> None:
        token = self._get_request_param("id_token")
        if not token or not self._get_request_param("state"):
            raise LtiException("the POST must carry id_token and state")
        if len(token) > MAX_TOKEN_BYTES:
            raise LaunchRefused(
                "token size", f"the id_token is {len(token)} bytes, over {MAX_TOKEN_BYTES}.", RELAUNCH, status=413
            )

    def _check_algorithm(self) -> None:
        alg = self._jwt.get("header", {}).get("alg")
        if alg not in ALGORITHMS:
            raise LaunchRefused(
                "signature algorithm",
                f"the id_token is signed with {alg!r}; LTI 1.3 requires RS256.",
                "The LMS must sign launches with its RSA key (RS256).",
                status=401,
            )

    def _check_audience(self) -> None:
        body = self._body()
        client_id = str(self._registration.get_client_id()) if self._registration else ""
        aud = body.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        azp = body.get("azp")
        advice = "The LMS administrator should check the client id registered in Passback matches the LMS's."
        if client_id not in audiences:
            raise LaunchRefused(
                "audience", "the id_token's aud does not name this tool's client id.", advice, status=403
            )
        if len(audiences) > 1 and azp is None:
            raise LaunchRefused(
                "authorized party", "the id_token has several audiences and no azp.", advice, status=403
            )
        if azp is not None and azp != client_id:
            raise LaunchRefused("authorized party", "the id_token's azp names another client.", advice, status=403)

    def get_public_key(self) -> tuple[Any, str]:
        header = self._jwt.get("header", {})
        kid, alg = header.get("kid"), header.get("alg")
        if not kid:
            raise LaunchRefused("signing key", "the id_token names no key (kid).", RELAUNCH, status=401)
        assert self._registration is not None
        url = str(self._registration.get_key_set_url())
        jwk = self._key_sets.key(url, kid, self._now)
        if jwk is None:
            raise LaunchRefused(
                "signing key",
                f"the LMS's key set has no key {kid!r}.",
                "The LMS administrator should check the key set URL registered in Passback is this LMS's.",
                status=401,
            )
        if jwk.get("alg", "RS256") != alg:
            raise LaunchRefused("signing key", f"key {kid!r} is not for {alg}.", RELAUNCH, status=401)
        try:
            return jwt.PyJWK(jwk).key, str(alg)
        except jwt.PyJWKError as error:
            raise LaunchRefused("signing key", f"key {kid!r} is not a usable RSA key.", RELAUNCH, status=401) from error

    def validate_jwt_signature(self) -> PassbackMessageLaunch:
        key, alg = self.get_public_key()
        try:
            jwt.decode(
                self._get_id_token(),
                key,
                algorithms=[alg],
                leeway=LEEWAY_SECONDS,
                options={"verify_aud": False, "require": ["exp", "iat", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise LaunchRefused("expiry", "the id_token has expired.", RELAUNCH, status=401) from error
        except jwt.ImmatureSignatureError as error:
            raise LaunchRefused(
                "issued at",
                "the id_token's iat is in the future.",
                "The LMS's clock is ahead of the real time; the LMS administrator should check it.",
                status=401,
            ) from error
        except jwt.MissingRequiredClaimError as error:
            raise LaunchRefused(
                "required claims", f"the id_token lacks {error.claim}.", RELAUNCH, status=400
            ) from error
        except jwt.InvalidTokenError as error:
            raise LaunchRefused(
                "signature",
                f"the id_token's signature does not verify ({type(error).__name__}).",
                "The LMS administrator should check Passback has the LMS's key set URL.",
                status=401,
            ) from error
        issued = int(self._body().get("iat", 0))
        if self._now.timestamp() - issued > MAX_TOKEN_AGE.total_seconds() + LEEWAY_SECONDS:
            raise LaunchRefused("token age", "the id_token was issued more than ten minutes ago.", RELAUNCH, status=401)
        return self

    def _check_message(self) -> None:
        body = self._body()
        kind = body.get(CLAIM + "message_type")
        if kind != RESOURCE_LINK_REQUEST:
            raise LaunchRefused(
                "message type",
                f"{kind!r} launches are not supported; Passback takes {RESOURCE_LINK_REQUEST}.",
                "The LMS administrator should add the tool as a resource link (not deep linking).",
            )
        context = body.get(CLAIM + "context") or {}
        if not context.get("id"):
            raise LaunchRefused(
                "context",
                "the launch carries no course context.",
                "Add the link inside a course, not at the account or system level.",
            )

    def _consume_state_and_nonce(self) -> None:
        body = self._body()
        state = self._get_request_param("state")
        cookie = self._http.cookies.get(STATE_COOKIE)
        if cookie is not None and cookie != state:
            raise LaunchRefused("state", "the state does not match this browser's login.", RELAUNCH, status=403)
        pending = self._states.consume(state, self._now)
        if pending is None:
            raise LaunchRefused("state", "the state is unknown, expired or already used.", RELAUNCH, status=403)
        if pending.nonce != body.get("nonce") or pending.issuer != body.get("iss"):
            raise LaunchRefused("nonce", "the id_token was not issued for this login.", RELAUNCH, status=403)
        if pending.client_id != self.get_client_id():
            raise LaunchRefused("state", "the login was for another client id.", RELAUNCH, status=403)
        keep = datetime.fromtimestamp(int(body.get("exp", 0)), self._now.tzinfo) + timedelta(seconds=LEEWAY_SECONDS)
        if not self._nonces.consume(f"lti13#{body.get('iss')}", str(body.get("nonce")), self._now, keep):
            raise LaunchRefused("nonce", "this id_token was already used (a replay).", RELAUNCH, status=403)

    def get_client_id(self) -> str:
        if self._registration is not None and self._registration.get_client_id():
            return str(self._registration.get_client_id())
        return str(super().get_client_id())

    def validate_registration(self) -> PassbackMessageLaunch:
        """Find the registration by whichever audience we know (pylti1p3 tries only aud[0])."""
        body = self._body()
        iss = body.get("iss")
        if not iss:
            raise LtiException('"iss" is empty')
        aud = body.get("aud")
        candidates = [body["azp"]] if body.get("azp") else (aud if isinstance(aud, list) else [aud])
        for client_id in candidates:
            found = self._tool_config.find_registration_by_params(iss, client_id)
            if found is not None:
                self._registration = found
                return self
        raise LtiException("Registration not found.")


@contextmanager
def refusal(check: str, detail: str, advice: str, *, status: int = 400) -> Iterator[None]:
    """Turn pylti1p3's exceptions into a LaunchRefused naming the check."""
    try:
        yield
    except LaunchRefused:
        raise
    except (LtiException, OIDCException, KeyError, ValueError, TypeError) as error:
        raise LaunchRefused(check, f"{detail} ({error})", advice, status=status) from error


# ---------------------------------------------------------------- the front door


class Lti13:
    def __init__(
        self,
        tool_conf: DynamoToolConf,
        states: LaunchStateStore,
        nonces: NonceStore,
        key_sets: PlatformKeySets,
        base_url: Callable[[HttpRequest], str],
    ) -> None:
        self.tool_conf = tool_conf
        self.states = states
        self.nonces = nonces
        self.key_sets = key_sets
        self.base_url = base_url

    def login(self, http: HttpRequest, now: datetime) -> WebResponse:
        base = self.base_url(http)
        target = http.param("target_link_uri")
        if target and not target.startswith(base + "/"):
            raise LaunchRefused(
                "target link",
                f"the login names a target outside this tool: {target}",
                f"The LMS administrator should set the tool's target link URI to {base}/lti13/launch.",
            )
        iss = http.param("iss")
        if not iss or not http.param("login_hint"):
            raise LaunchRefused("login request", "the login request lacks iss or login_hint.", RELAUNCH)
        login = PassbackOIDCLogin(http, self.tool_conf, self.states, now)
        with refusal(
            "login registration",
            f"No registration for issuer {iss!r} with this client id.",
            ADMIN_REGISTRATION,
            status=403,
        ):
            response: WebResponse = login.redirect(f"{base}/lti13/launch")
        return response

    def launch(self, http: HttpRequest, now: datetime) -> LaunchFacts:
        message = PassbackMessageLaunch(http, self.tool_conf, self.states, self.nonces, self.key_sets, now)
        message.validate()
        return facts_from_claims(message.get_launch_data(), message.get_client_id(), http)


def facts_from_claims(body: Any, client_id: str, http: HttpRequest) -> LaunchFacts:
    context = body.get(CLAIM + "context") or {}
    link = body.get(CLAIM + "resource_link") or {}
    custom = body.get(CLAIM + "custom") or {}
    ags = body.get(AGS_CLAIM) or {}
    target = str(body.get(CLAIM + "target_link_uri") or "")
    presentation = body.get(CLAIM + "launch_presentation") or {}
    return LaunchFacts(
        lti_version="1.3",
        platform_key=platform_key_lti13(str(body["iss"])),
        context_id=str(context["id"]),
        context_title=context.get("title"),
        context_label=context.get("label"),
        resource_link_id=str(link["id"]),
        resource_link_title=link.get("title"),
        user_id=str(body["sub"]),
        roles=tuple(str(r) for r in body.get(CLAIM + "roles") or ()),
        name=body.get("name") or " ".join(p for p in (body.get("given_name"), body.get("family_name")) if p) or None,
        email=(body.get("email") or None),
        client_id=client_id,
        deployment_id=body.get(CLAIM + "deployment_id"),
        activity_id=activity_of(custom, target),
        line_item_url=ags.get("lineitem"),
        line_items_url=ags.get("lineitems"),
        ags_scopes=tuple(str(s) for s in ags.get("scope") or ()),
        lms_origin=origin_of(http.header("origin")) or origin_of(presentation.get("return_url")),
        return_url=presentation.get("return_url"),
    )


def activity_of(custom: dict[str, Any], target_link_uri: str) -> str | None:
    """The activity a link names: the `activity_id` custom parameter, else the target link URI's query.

    Canvas sets custom parameters per developer key, not per link, so an assignment there names
    its activity in its URL (`.../lti13/launch?activity_id=quiz-1`).
    """
    value = custom.get("activity_id")
    if isinstance(value, str) and value.strip() and not value.startswith("$"):
        return value.strip()
    query = parse_qs(urlsplit(target_link_uri).query).get("activity_id")
    return query[0].strip() if query and query[0].strip() else None
