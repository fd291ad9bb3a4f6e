"""`LmsEmulator`: a Canvas- or Moodle-like LMS on 127.0.0.1, for Passback's tests and demo."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from . import deep_linking, lti11, oidc
from .browser import BrowserLaunches
from .claims import base_claims
from .control import ControlApi
from .faults import Faults
from .keys import KeyRing
from .lms import Lms
from .net import require_loopback_bind
from .registration import Registrations
from .router import Router
from .server import EmulatorHTTPServer
from .state import EmulatorState, LineItemMode
from .stats import RequestRecord, Stats
from .urls import Mode, Urls
from .wire import Request, Response, text_response


def _not_ready(_: Request) -> Response:
    return text_response(503, "the LMS emulator is starting")


class LmsEmulator(BrowserLaunches):
    """An in-memory LMS serving LTI 1.3 (OIDC launch, AGS, NRPS) and LTI 1.1 (launch, Basic
    Outcomes) over real HTTP, plus a control API so another process can drive it.

    Courses, users and links may be added before `start()`; anything that needs the base URL
    (tool registration, launch parameters) needs a started emulator.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        issuer: str | None = None,
        token_lifetime: int = 3600,
        mode: Mode = "canvas",
        signing_key: rsa.RSAPrivateKey | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`signing_key` replaces the RSA key otherwise generated at start (test suites reuse one
        to save the generation time). `clock` (epoch seconds) replaces the wall clock, so a test
        that simulates hours keeps the LMS on the same timeline as the tool."""
        if mode not in ("canvas", "moodle"):
            raise ValueError("mode must be 'canvas' or 'moodle'")
        if token_lifetime <= 0:
            raise ValueError("token_lifetime must be positive")
        self._host = require_loopback_bind(host)
        self._port = port
        self._issuer = issuer
        self._token_lifetime = token_lifetime
        self._initial_key = signing_key
        self.mode: Mode = mode
        self._state = EmulatorState(clock)
        self.faults = Faults(self._state)
        self._stats = Stats(self._state.lock)
        self.registrations = Registrations(self._state)
        self._guid = f"lms-emulator-{uuid.uuid4().hex[:12]}"
        self._stop_event = threading.Event()
        self._lms: Lms | None = None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LmsEmulator:
        if self._server is not None:
            return self
        keys = KeyRing(self._state.lock, self._initial_key)
        control = ControlApi(self)
        self._stop_event.clear()
        # The router needs the bound port for its URLs, so the server starts with a placeholder.
        server = EmulatorHTTPServer((self._host, self._port), _not_ready)
        base_url = f"http://{self._host}:{server.server_address[1]}"
        self._lms = Lms(
            state=self._state,
            keys=keys,
            faults=self.faults,
            stats=self._stats,
            urls=Urls(base_url, self.mode),
            issuer=self._issuer or base_url,
            mode=self.mode,
            guid=self._guid,
            token_lifetime=self._token_lifetime,
        )
        server.dispatch = Router(self._lms, control.handle, self._stop_event, self.registrations).dispatch
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="lms-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LmsEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def lms(self) -> Lms:
        if self._lms is None:
            raise RuntimeError("the LMS emulator is not started; call start() first")
        return self._lms

    @property
    def base_url(self) -> str:
        return self.lms.urls.base

    @property
    def issuer(self) -> str:
        return self.lms.issuer

    @property
    def auth_url(self) -> str:
        return self.lms.urls.auth

    @property
    def token_url(self) -> str:
        return self.lms.urls.token

    @property
    def jwks_url(self) -> str:
        return self.lms.urls.jwks

    @property
    def outcomes_url(self) -> str:
        return self.lms.urls.outcomes

    def config(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "issuer": self.issuer,
            "mode": self.mode,
            "auth_url": self.auth_url,
            "token_url": self.token_url,
            "jwks_url": self.jwks_url,
            "outcomes_url": self.outcomes_url,
            "control_url": f"{self.base_url}/_control/",
            "token_lifetime": self._token_lifetime,
        }

    # -- tools --------------------------------------------------------------------------------

    def register_tool(
        self,
        client_id: str,
        *,
        login_url: str,
        launch_url: str,
        jwks_url: str,
        deployment_ids: Sequence[str],
        lti11_consumer_key: str | None = None,
        lti11_secret: str | None = None,
    ) -> dict[str, Any]:
        """Register the tool under a client id (a "developer key"); returns its platform config."""
        self._state.register_tool(
            client_id,
            login_url=login_url,
            launch_url=launch_url,
            jwks_url=jwks_url,
            deployment_ids=deployment_ids,
            lti11_consumer_key=lti11_consumer_key,
            lti11_secret=lti11_secret,
        )
        return self.platform_config(client_id)

    def platform_config(self, client_id: str) -> dict[str, Any]:
        """What an admin types into the tool to register this platform."""
        tool = self._state.tool(client_id)
        return {
            "issuer": self.issuer,
            "client_id": tool.client_id,
            "deployment_ids": list(tool.deployment_ids),
            "login_url": self.auth_url,
            "token_url": self.token_url,
            "jwks_url": self.jwks_url,
        }

    def tool_registration(self, client_id: str) -> dict[str, Any]:
        return self._state.tool(client_id).as_dict()

    # -- LTI Dynamic Registration -------------------------------------------------------------

    def registration_url(self, tool_url: str, *, update_client_id: str | None = None) -> str:
        """What the LMS opens when its admin pastes the tool's registration URL: the tool URL plus
        `openid_configuration` and a one-time `registration_token` (one that updates `update_client_id`'s
        registration, as Moodle's "update" tokens do, when given)."""
        return self.registrations.start(self.lms, tool_url, update_client_id=update_client_id)

    def registration_knobs(self, *, issuer_override: str | None = None, registration_host: str | None = None) -> None:
        """Misbehave on purpose: serve another issuer, or a registration endpoint on another host."""
        self.registrations.knobs.issuer_override = issuer_override
        self.registrations.knobs.registration_host = registration_host

    def registration_requests(self) -> list[dict[str, Any]]:
        """The client registrations the tool posted, in order."""
        return list(self.registrations.received)

    def migrate_from_lti11(
        self,
        client_id: str,
        consumer_key: str,
        secret: str,
        *,
        legacy_user_ids: dict[str, str] | None = None,
        forge_signature: bool = False,
    ) -> None:
        """Make the LTI 1.3 tool `client_id` the successor of the LTI 1.1 tool `consumer_key`: its launches
        carry the `lti1p1` claim, signed with `secret` (or wrongly, with `forge_signature`), and name the
        1.1 user ids in `legacy_user_ids` (1.3 user id -> 1.1 user id) where they differ."""
        with self._state.lock:
            self._state.tool(client_id)
            self._state.migrated_tools[client_id] = (consumer_key, secret, forge_signature)
            self._state.legacy_user_ids.update(legacy_user_ids or {})

    # -- courses, users, links ----------------------------------------------------------------

    def add_course(self, context_id: str, title: str, *, label: str | None = None) -> None:
        self._state.add_course(context_id, title, label)

    def add_user(self, user_id: str, *, name: str, email: str, roles: Sequence[str] | None = None) -> None:
        self._state.add_user(user_id, name=name, email=email, roles=list(roles or ["student"]))

    def enroll(self, context_id: str, user_id: str, role: str = "student") -> None:
        self._state.enroll(context_id, user_id, role)

    def drop(self, context_id: str, user_id: str) -> None:
        self._state.drop(context_id, user_id)

    def set_member_status(self, context_id: str, user_id: str, *, active: bool) -> None:
        """NRPS shows an inactive member (a concluded or suspended enrollment) as "Inactive"; the LMS
        still knows them in the course, but a tool should send them nothing."""
        with self._state.lock:
            inactive = self._state.inactive.setdefault(context_id, set())
            (inactive.discard if active else inactive.add)(user_id)

    def add_link(
        self,
        context_id: str,
        resource_link_id: str,
        *,
        title: str,
        custom: dict[str, str] | None = None,
        line_item: LineItemMode = True,
        score_maximum: float = 100,
    ) -> None:
        self._state.add_link(
            context_id,
            resource_link_id,
            title=title,
            custom=custom,
            line_item=line_item,
            score_maximum=float(score_maximum),
        )

    def line_item_url(self, context_id: str, resource_link_id: str, client_id: str) -> str | None:
        """The URL of the line item made up front for a link, as the given tool sees it."""
        link = self._state.link(context_id, resource_link_id)
        if link.line_item_id is None:
            return None
        return self.lms.urls.lineitem(context_id, link.line_item_id, self._state.tool(client_id).type_id)

    # -- LTI 1.3 launch building blocks -------------------------------------------------------

    def lti13_login_params(
        self,
        client_id: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        deployment_id: str | None = None,
        message_hint_extra: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """Query parameters for the tool's login URL. `message_hint_extra` holds claims merged
        into (and overriding) this launch's id_token."""
        return oidc.login_params(
            self.lms,
            client_id,
            user_id,
            context_id,
            resource_link_id,
            deployment_id=deployment_id,
            message_hint_extra=message_hint_extra,
        )

    def lti13_deep_link_login_params(
        self,
        client_id: str,
        user_id: str,
        context_id: str,
        *,
        accept_multiple: bool = True,
        return_url: str | None = None,
        deployment_id: str | None = None,
        message_hint_extra: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """Query parameters for the tool's login URL that start a deep-linking request ("Select content").
        `return_url` replaces the LMS's own deep_link_return_url (a forged one, for security tests)."""
        return deep_linking.login_params(
            self.lms,
            client_id,
            user_id,
            context_id,
            accept_multiple=accept_multiple,
            return_url=return_url,
            deployment_id=deployment_id,
            message_hint_extra=message_hint_extra,
        )

    def links(self, context_id: str) -> list[dict[str, Any]]:
        """The course's links, with the line item each has (None: the launch offers only the container)."""
        with self._state.lock:
            return [
                {
                    "resource_link_id": link.resource_link_id,
                    "title": link.title,
                    "custom": dict(link.custom),
                    "line_item_id": link.line_item_id,
                }
                for (ctx, _), link in self._state.links.items()
                if ctx == context_id
            ]

    def line_items(self, context_id: str) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                {
                    "id": item.id,
                    "label": item.label,
                    "scoreMaximum": item.score_maximum,
                    "resourceLinkId": item.resource_link_id,
                    "resourceId": item.resource_id,
                    "tag": item.tag,
                }
                for item in self._state.line_items.values()
                if item.context_id == context_id
            ]

    def refuse_line_item_put(self, status: int | None = 405) -> None:
        """Answer every line item PUT with `status` (405, 403 or 501), as a platform that does not let a tool
        rename its columns; None takes PUTs again."""
        with self._state.lock:
            self._state.line_item_put_refusal = status

    def delete_line_item(
        self, context_id: str, resource_link_id: str | None = None, *, item_id: int | None = None
    ) -> int:
        """Delete a column as an instructor would in the LMS (by its link, or its id); returns its id."""
        if item_id is None:
            with self._state.lock:
                found = [
                    item.id
                    for item in self._state.line_items.values()
                    if item.context_id == context_id and item.resource_link_id == resource_link_id
                ]
            if not found:
                raise KeyError(f"no line item for link {resource_link_id!r} in course {context_id!r}")
            item_id = found[0]
        self._state.delete_line_item(item_id)
        return item_id

    def deep_link_responses(self) -> list[dict[str, Any]]:
        """Every deep-linking response the LMS received: accepted (with its items) or refused (with why)."""
        with self._state.lock:
            return [dict(entry) for entry in self._state.deep_link_responses]

    def base_claims(
        self,
        client_id: str,
        user_id: str,
        context_id: str,
        resource_link_id: str,
        *,
        nonce: str,
        deployment_id: str | None = None,
    ) -> dict[str, Any]:
        return base_claims(
            self.lms,
            client_id,
            user_id,
            context_id,
            resource_link_id,
            nonce=nonce,
            deployment_id=deployment_id,
        )

    def sign_id_token(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        alg: str = "RS256",
        key: bytes | rsa.RSAPrivateKey | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Sign `claims` as the platform would, or not: alg "none" gives `header.payload.`, and
        "HS256" with `key=emu.public_key_pem()` gives the classic key-confusion token."""
        return self.lms.keys.sign(claims, kid=kid, alg=alg, key=key, headers=headers)

    def rotate_key(self, keep_old: bool = False) -> str:
        """Switch to a new signing key; returns its kid. The old key leaves the JWKS unless keep_old."""
        return self.lms.keys.rotate(keep_old)

    @property
    def current_kid(self) -> str:
        return self.lms.keys.current.kid

    def public_key_pem(self) -> bytes:
        return self.lms.keys.current.public_pem()

    def jwks(self) -> dict[str, Any]:
        return self.lms.keys.jwks()

    # -- LTI 1.1 ------------------------------------------------------------------------------

    def lti11_launch_params(
        self,
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
        """A basic-lti-launch-request form, signed with oauthlib's client (HMAC-SHA1, body)."""
        return lti11.launch_params(
            self.lms,
            consumer_key,
            launch_url,
            user_id,
            context_id,
            resource_link_id,
            roles=roles,
            custom=custom,
            with_outcome=with_outcome,
        )

    # -- what the LMS recorded ----------------------------------------------------------------

    def scores(self, context_id: str | None = None) -> list[dict[str, Any]]:
        """The latest accepted AGS score per (line item, user)."""
        return self._state.scores(context_id)

    def score_history(self) -> list[dict[str, Any]]:
        """Every accepted AGS score POST, in arrival order."""
        with self._state.lock:
            return [record.as_dict() for record in self._state.score_history]

    def outcomes(self) -> list[dict[str, Any]]:
        """The current LTI 1.1 result per sourcedid."""
        with self._state.lock:
            return [record.as_dict() for record in self._state.outcomes.values()]

    def gradebook(self) -> dict[str, dict[str, dict[str, float]]]:
        """{context_id: {user_id: {resource_link_id: percent}}} from AGS scores and 1.1 outcomes."""
        return self._state.gradebook()

    @property
    def counters(self) -> dict[str, int]:
        return self._stats.counters()

    @property
    def requests(self) -> list[RequestRecord]:
        return self._stats.requests()

    def reset_counters(self) -> None:
        self._stats.reset()

    def max_concurrent(self, group: str = "score") -> int:
        """Most requests of `group` handled at once: "score" (AGS scores and 1.1 outcomes together),
        "token", "outcomes" or "all"."""
        return self._stats.max_concurrent(group)

    def state_snapshot(self) -> dict[str, Any]:
        return {
            "counters": self.counters,
            "scores": self.scores(),
            "score_history": self.score_history(),
            "outcomes": self.outcomes(),
            "gradebook": self.gradebook(),
            "max_concurrent": self._stats.all_max_concurrent(),
            "faults": self.faults.active(),
        }
