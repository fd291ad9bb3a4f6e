"""LTI 1.3 launches: pylti1p3, adapted to API Gateway events and with its gaps closed here.

pylti1p3 does the OIDC login mechanics, the registration and deployment lookups and the
message validators. Used in the straightforward way (2.0.0) it accepts launches it should not,
so this module wraps it in one place:

- state is bound server-side at login (DynamoDB, ten minutes, single use) to the nonce sent to
  the platform, and the cookie is checked too when the browser kept it: LMS iframes often block
  third-party cookies, and pylti1p3 knows only the cookie. pylti1p3 also re-validates a state it
  has seen with the same id_token (its "restored launch"), so the same POST could be replayed;
- the nonce is consumed with a conditional write (pylti1p3 checks it but never consumes it);
- `aud` must name a registered client id, a multi-audience token needs `azp`, `azp` must be one
  of the audiences and registered, and the client must be the one the login was started for
  (pylti1p3 compares only `aud[0]` and skips the audience check);
- `exp`, `iat` and `nbf` are checked against Passback's clock, and a token older than ten minutes
  is refused even if its `exp` is later; PyJWT verifies the signature only;
- only RS256/384/512 is accepted, before any key lookup (no `none`, no HMAC with a public key);
- the platform key set is cached and refetched when an unknown `kid` appears (rotation);
- message type, version and every claim Passback reads are checked for presence, type and length
  (ids at most 255 bytes, so no attacker-sized DynamoDB key) before anything is written;
- every library error becomes a `LaunchRefused` with the check that failed, never a 500.
  docs/launches.md lists every check with its status and advice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
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
from passback.lti import deep_linking
from passback.lti.deep_linking import DEEP_LINKING_REQUEST, DeepLinkingRequest
from passback.lti.errors import (
    ADMIN_REGISTRATION,
    MAX_ID_BYTES,
    RELAUNCH,
    LaunchRefused,
    check_activity_id,
    usable_email,
    usable_name,
)
from passback.lti.key_sets import PlatformKeySets
from passback.lti.lti1p1 import LegacyClaims
from passback.lti.tool_config import DynamoToolConf
from passback.services.launch import LaunchFacts, origin_of, time_zone_of
from passback.web.http import HttpRequest, WebResponse

STATE_TTL = timedelta(minutes=10)
MAX_TOKEN_AGE = timedelta(minutes=10)
LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 64 * 1024
ALGORITHMS = ("RS256", "RS384", "RS512")
LTI_VERSION = "1.3.0"
MAX_STATE_CHARS = 256
MAX_ISSUER_BYTES = 1024
STATE_COOKIE = "lti1p3-state"

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
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

    # -- the order of checks: nothing is fetched before the algorithm is known good, nothing is
    #    written before the signature is

    def validate(self) -> PassbackMessageLaunch:
        self._validated = True
        try:
            self._check_request()
            with refusal("token format", "The id_token is not a well-formed JWT.", RELAUNCH):
                self.validate_jwt_format()
            self._check_algorithm()
            self.validate_registration()
            self.validate_jwt_signature()
            self._check_times()
            self._check_message()
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
            self._consume_state_and_nonce()
        except Exception:
            self._validated = False
            raise
        return self

    def _check_request(self) -> None:
        token = self._get_request_param("id_token")
        state = self._get_request_param("state")
        if not token:
            raise LaunchRefused("request", "the launch request carries no id_token.", RELAUNCH)
        if len(token) > MAX_TOKEN_BYTES:
            raise LaunchRefused(
                "token size", f"the id_token is {len(token)} bytes, over {MAX_TOKEN_BYTES}.", RELAUNCH, status=413
            )
        if not state:
            raise LaunchRefused("state", "the launch request carries no state.", RELAUNCH)
        if len(state) > MAX_STATE_CHARS:
            raise LaunchRefused("state", "the state is not one Passback issued.", RELAUNCH, status=403)

    def _check_algorithm(self) -> None:
        header = self._jwt.get("header")
        alg = header.get("alg") if isinstance(header, dict) else None
        if not isinstance(self._jwt.get("body"), dict):
            raise LaunchRefused("token format", "the id_token's payload is not a JSON object.", RELAUNCH)
        if alg not in ALGORITHMS:
            raise LaunchRefused(
                "signature algorithm",
                f"the id_token is signed with {_shown(alg)}; LTI 1.3 requires RS256.",
                "The LMS must sign launches with its RSA key (RS256).",
                status=401,
            )

    def validate_registration(self) -> PassbackMessageLaunch:
        """Find the registration the token is for, by `azp` or its one audience (pylti1p3 tries only aud[0]).

        A token with several audiences must name its authorized party, and `azp` must be one of them.
        """
        body = self._body()
        iss = body.get("iss")
        if not _identifier(iss, MAX_ISSUER_BYTES):
            raise LaunchRefused("issuer", "the id_token's iss is missing or not a plain string.", RELAUNCH)
        aud = body.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        advice = "The LMS administrator should check the client id registered in Passback matches the LMS's."
        if not isinstance(audiences, list) or not audiences or not all(_identifier(a) for a in audiences):
            raise LaunchRefused("audience", "the id_token's aud is not a client id or a list of them.", advice)
        azp = body.get("azp")
        if azp is not None and not _identifier(azp):
            raise LaunchRefused("authorized party", "the id_token's azp is not a client id.", advice)
        if len(audiences) > 1 and azp is None:
            raise LaunchRefused(
                "authorized party", "the id_token has several audiences and no azp.", advice, status=403
            )
        if azp is not None and azp not in audiences:
            raise LaunchRefused(
                "authorized party", "the id_token's azp is not one of its audiences.", advice, status=403
            )
        if not self._tool_config.knows_issuer(iss):
            raise LaunchRefused(
                "issuer", f"no LMS with issuer {_shown(iss)} is registered in Passback.", ADMIN_REGISTRATION, status=403
            )
        client_id = str(azp if azp is not None else audiences[0])
        found = self._tool_config.find_registration_by_params(iss, client_id)
        if found is None:
            if any(self._tool_config.find_registration_by_params(iss, a) for a in audiences if a != client_id):
                raise LaunchRefused(
                    "authorized party",
                    f"the id_token was issued to client {_shown(client_id)} (azp), not to this tool.",
                    advice,
                    status=403,
                )
            raise LaunchRefused(
                "client id",
                f"no client id {_shown(client_id)} is registered for issuer {_shown(iss)}.",
                ADMIN_REGISTRATION,
                status=403,
            )
        self._registration = found
        return self

    def get_public_key(self) -> tuple[Any, str]:
        header = self._jwt.get("header", {})
        kid, alg = header.get("kid"), header.get("alg")
        if not kid or not isinstance(kid, str) or len(kid) > 256:
            raise LaunchRefused("signing key", "the id_token names no usable key id (kid).", RELAUNCH, status=401)
        assert self._registration is not None
        url = str(self._registration.get_key_set_url())
        jwk = self._key_sets.key(url, kid, self._now)
        if jwk is None:
            raise LaunchRefused(
                "signing key",
                f"the LMS's key set has no key {_shown(kid)}.",
                "The LMS administrator should check the key set URL registered in Passback is this LMS's.",
                status=401,
            )
        if jwk.get("alg", "RS256") != alg:
            raise LaunchRefused("signing key", f"key {_shown(kid)} is not for {alg}.", RELAUNCH, status=401)
        try:
            return jwt.PyJWK(jwk).key, str(alg)
        except jwt.PyJWKError as error:
            raise LaunchRefused(
                "signing key", f"key {_shown(kid)} is not a usable RSA key.", RELAUNCH, status=401
            ) from error

    def validate_jwt_signature(self) -> PassbackMessageLaunch:
        """Verify the signature only, and keep the payload that was verified; claims are checked after."""
        key, alg = self.get_public_key()
        try:
            verified = jwt.PyJWS().decode_complete(self._get_id_token(), key, algorithms=[alg])
            body = json.loads(verified["payload"])
        except jwt.InvalidTokenError as error:
            raise LaunchRefused(
                "signature",
                f"the id_token's signature does not verify ({type(error).__name__}).",
                "The LMS administrator should check Passback has the LMS's key set URL.",
                status=401,
            ) from error
        except ValueError as error:
            raise LaunchRefused("token format", "the id_token's payload is not JSON.", RELAUNCH) from error
        if not isinstance(body, dict) or body != self._body():
            raise LaunchRefused("token format", "the id_token's payload is not one JSON object.", RELAUNCH)
        return self

    def _check_times(self) -> None:
        """Against Passback's clock: not expired, not issued in the future, not older than ten minutes."""
        body = self._body()
        missing = [name for name in ("exp", "iat") if body.get(name) is None]
        if missing:
            raise LaunchRefused("required claims", f"the id_token lacks {', '.join(missing)}.", RELAUNCH)
        times = {name: body.get(name) for name in ("exp", "iat", "nbf") if body.get(name) is not None}
        wrong = [name for name, value in times.items() if not _is_number(value)]
        if wrong:
            raise LaunchRefused("claim format", f"the id_token's {', '.join(wrong)} is not a number.", RELAUNCH)
        now, leeway = self._now.timestamp(), LEEWAY_SECONDS
        if float(body["exp"]) + leeway < now:
            raise LaunchRefused("expiry", "the id_token has expired.", RELAUNCH, status=401)
        if float(body["iat"]) - leeway > now or float(body.get("nbf", 0)) - leeway > now:
            raise LaunchRefused(
                "issued at",
                "the id_token's iat is in the future.",
                "The LMS's clock is ahead of the real time; the LMS administrator should check it.",
                status=401,
            )
        if now - float(body["iat"]) > MAX_TOKEN_AGE.total_seconds() + leeway:
            raise LaunchRefused("token age", "the id_token was issued more than ten minutes ago.", RELAUNCH, status=401)

    def _check_message(self) -> None:
        """A resource link launch of LTI 1.3.0 with every claim Passback relies on, each of the right shape."""
        body = self._body()
        kind = body.get(CLAIM + "message_type")
        if kind not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
            raise LaunchRefused(
                "message type",
                f"{_shown(kind)} launches are not supported; Passback takes {RESOURCE_LINK_REQUEST} "
                f"and {DEEP_LINKING_REQUEST}.",
                "The LMS administrator should add the tool as a resource link or a deep-linking placement.",
            )
        version = body.get(CLAIM + "version")
        if version != LTI_VERSION:
            raise LaunchRefused(
                "version",
                f"the launch is LTI version {_shown(version)}; Passback takes {LTI_VERSION}.",
                "The LMS administrator should register the tool as an LTI 1.3 tool.",
            )
        required = {
            "sub": "sub",
            "nonce": "nonce",
            CLAIM + "deployment_id": "deployment_id",
            CLAIM + "context": "context",
            CLAIM + "resource_link": "resource_link",
            CLAIM + "roles": "roles",
        }
        if kind == DEEP_LINKING_REQUEST:
            # A deep-linking request comes from a course but from no link yet (the link is what it makes).
            del required[CLAIM + "resource_link"]
        missing = [short for claim, short in required.items() if body.get(claim) is None]
        context, link = body.get(CLAIM + "context"), body.get(CLAIM + "resource_link")
        for name, value in (("context", context), ("resource_link", link)):
            if isinstance(value, dict) and value.get("id") in (None, ""):
                missing.append(f"{name}.id")
        if missing:
            raise LaunchRefused(
                "required claims",
                f"the id_token lacks {', '.join(missing)}.",
                "The LMS administrator should check the link is inside a course and sends the user's id "
                "(privacy settings).",
            )
        wrong = [short for claim, short, ok in self._claim_shapes(body) if claim in body and not ok]
        if wrong:
            raise LaunchRefused(
                "claim format", f"the id_token's {', '.join(wrong)} has the wrong type or length.", RELAUNCH
            )

    @staticmethod
    def _claim_shapes(body: dict[str, Any]) -> list[tuple[str, str, bool]]:
        """(claim, name shown, whether its value has the shape Passback reads)."""
        context, link = body.get(CLAIM + "context"), body.get(CLAIM + "resource_link")
        roles, ags = body.get(CLAIM + "roles"), body.get(AGS_CLAIM)
        ags_ok = ags is None or (
            isinstance(ags, dict) and all(_optional(ags, name, str) for name in ("lineitem", "lineitems"))
        )
        ags_ok = ags_ok and (ags is None or _optional(ags, "scope", list))
        shapes = [
            ("sub", "sub", _identifier(body.get("sub"))),
            ("nonce", "nonce", _identifier(body.get("nonce"), MAX_STATE_CHARS)),
            (CLAIM + "deployment_id", "deployment_id", _identifier(body.get(CLAIM + "deployment_id"))),
            (CLAIM + "context", "context", isinstance(context, dict) and _identifier(context.get("id"))),
            (CLAIM + "resource_link", "resource_link", isinstance(link, dict) and _identifier(link.get("id"))),
            (CLAIM + "roles", "roles", isinstance(roles, list) and all(isinstance(r, str) for r in roles)),
            (AGS_CLAIM, "AGS endpoint", ags_ok),
            (NRPS_CLAIM, "NRPS endpoint", _optional(body, NRPS_CLAIM, dict)),
        ]
        for claim, kind in (("custom", dict), ("launch_presentation", dict), ("target_link_uri", str)):
            shapes.append((CLAIM + claim, claim, _optional(body, CLAIM + claim, kind)))
        return shapes

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
            raise LaunchRefused(
                "audience",
                f"the id_token is for client {_shown(self.get_client_id())}; this login was for another client.",
                RELAUNCH,
                status=403,
            )
        keep = datetime.fromtimestamp(float(body["exp"]), self._now.tzinfo) + timedelta(seconds=LEEWAY_SECONDS)
        if not self._nonces.consume(f"lti13#{body.get('iss')}", str(body.get("nonce")), self._now, keep):
            raise LaunchRefused("nonce", "this id_token was already used (a replay).", RELAUNCH, status=403)

    def get_client_id(self) -> str:
        if self._registration is not None and self._registration.get_client_id():
            return str(self._registration.get_client_id())
        return str(super().get_client_id())


def _shown(value: Any) -> str:
    """A value from the request, quoted and cut short, for a refusal's detail."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _identifier(value: Any, max_bytes: int = MAX_ID_BYTES) -> bool:
    return isinstance(value, str) and 0 < len(value.encode("utf-8", "surrogatepass")) <= max_bytes


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional(container: dict[str, Any], name: str, kind: type) -> bool:
    value = container.get(name)
    return value is None or isinstance(value, kind)


@contextmanager
def refusal(check: str, detail: str, advice: str, *, status: int = 400) -> Iterator[None]:
    """Turn pylti1p3's exceptions into a LaunchRefused naming the check."""
    try:
        yield
    except LaunchRefused:
        raise
    except (LtiException, OIDCException, KeyError, ValueError, TypeError, AttributeError) as error:
        raise LaunchRefused(check, f"{detail} ({str(error)[:200]})", advice, status=status) from error


# ---------------------------------------------------------------- the front door


class Lti13:
    def __init__(
        self,
        tool_conf: DynamoToolConf,
        states: LaunchStateStore,
        nonces: NonceStore,
        key_sets: PlatformKeySets,
        base_url: Callable[[HttpRequest], str],
        legacy: LegacyClaims | None = None,
    ) -> None:
        self.legacy = legacy
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
                f"the login names a target outside this tool: {_shown(target)}",
                f"The LMS administrator should set the tool's target link URI to {base}/lti13/launch.",
            )
        iss, client_id = http.param("iss"), http.param("client_id")
        if not iss or not http.param("login_hint"):
            raise LaunchRefused("login request", "the login request lacks iss or login_hint.", RELAUNCH)
        if not _identifier(iss, MAX_ISSUER_BYTES) or not self.tool_conf.knows_issuer(iss):
            raise LaunchRefused(
                "issuer", f"no LMS with issuer {_shown(iss)} is registered in Passback.", ADMIN_REGISTRATION, status=403
            )
        if (client_id and not _identifier(client_id)) or self.tool_conf.find_registration_by_params(
            iss, client_id
        ) is None:
            detail = (
                f"no client id {_shown(client_id)} is registered for issuer {_shown(iss)}."
                if client_id
                else f"the login names no client_id, and issuer {_shown(iss)} has several registrations."
            )
            raise LaunchRefused("client id", detail, ADMIN_REGISTRATION, status=403)
        login = PassbackOIDCLogin(http, self.tool_conf, self.states, now)
        with refusal("login request", "The login request could not be completed.", ADMIN_REGISTRATION, status=400):
            response: WebResponse = login.redirect(f"{base}/lti13/launch")
        return response

    def receive(self, http: HttpRequest, now: datetime) -> LaunchFacts | DeepLinkingRequest:
        """A validated resource link launch, or a validated deep-linking request (docs/launches.md)."""
        message = PassbackMessageLaunch(http, self.tool_conf, self.states, self.nonces, self.key_sets, now)
        message.validate()
        if message.is_deep_link_launch():
            request = deep_linking.request_of(dict(message.get_launch_data()), message.get_client_id())
            assert message._registration is not None
            deep_linking.check_return_url(request.return_url, message._registration, http.header("origin"))
            return request
        facts = facts_from_claims(message.get_launch_data(), message.get_client_id(), http)
        check_activity_id(facts.activity_id)
        return self._with_legacy(message, facts, now)

    def _with_legacy(self, message: PassbackMessageLaunch, facts: LaunchFacts, now: datetime) -> LaunchFacts:
        """LTI 1.1 to 1.3: the launch's 1.1 ids, from a verified `lti1p1` claim or an operator's tie."""
        if self.legacy is None:
            return facts
        legacy = self.legacy.legacy_of(dict(message.get_launch_data()), facts, now)
        return replace(facts, legacy=legacy) if legacy is not None else facts

    def launch(self, http: HttpRequest, now: datetime) -> LaunchFacts:
        message = PassbackMessageLaunch(http, self.tool_conf, self.states, self.nonces, self.key_sets, now)
        message.validate()
        if message.is_deep_link_launch():
            raise LaunchRefused("message type", "a deep-linking request is not a resource link launch.", RELAUNCH)
        facts = facts_from_claims(message.get_launch_data(), message.get_client_id(), http)
        check_activity_id(facts.activity_id)
        return self._with_legacy(message, facts, now)


def facts_from_claims(body: Any, client_id: str, http: HttpRequest) -> LaunchFacts:
    """The launch's facts from claims `_check_message` has checked the shape of."""
    context = body[CLAIM + "context"]
    link = body[CLAIM + "resource_link"]
    custom = body.get(CLAIM + "custom") or {}
    ags = body.get(AGS_CLAIM) or {}
    target = _text(body.get(CLAIM + "target_link_uri")) or ""
    presentation = body.get(CLAIM + "launch_presentation") or {}
    return_url = _text(presentation.get("return_url"))
    name = _text(body.get("name")) or " ".join(
        p for p in (_text(body.get("given_name")), _text(body.get("family_name"))) if p
    )
    return LaunchFacts(
        lti_version="1.3",
        platform_key=platform_key_lti13(str(body["iss"])),
        context_id=str(context["id"]),
        context_title=_text(context.get("title")),
        context_label=_text(context.get("label")),
        resource_link_id=str(link["id"]),
        resource_link_title=_text(link.get("title")),
        user_id=str(body["sub"]),
        roles=tuple(body[CLAIM + "roles"]),
        name=usable_name(name),
        email=usable_email(_text(body.get("email"))),
        client_id=client_id,
        deployment_id=str(body[CLAIM + "deployment_id"]),
        activity_id=activity_of(custom, target),
        time_zone=time_zone_of(custom),
        line_item_url=_text(ags.get("lineitem")),
        line_items_url=_text(ags.get("lineitems")),
        ags_scopes=tuple(str(s) for s in ags.get("scope") or ()),
        lms_origin=origin_of(http.header("origin")) or origin_of(return_url),
        return_url=return_url,
        memberships_url=_text((body.get(NRPS_CLAIM) or {}).get("context_memberships_url")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
