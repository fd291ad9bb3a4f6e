"""`EmulatorClient`: drive an emulator running in another process through its control API, with
the same method names as `LmsEmulator`."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import requests

from .browser import BrowserLaunches
from .net import require_loopback_url
from .state import LineItemMode
from .stats import RequestRecord

CONTROL_TIMEOUT_S = 10.0


class EmulatorError(RuntimeError):
    """The emulator refused a control action."""


class RemoteFaults:
    def __init__(self, client: EmulatorClient) -> None:
        self._client = client

    def fail(
        self, status: int = 500, count: int | None = None, body: str = "injected failure", target: str = "all"
    ) -> None:
        self._client.call("faults/fail", status=status, count=count, body=body, target=target)

    def hang(self, seconds: float, count: int | None = None, target: str = "all") -> None:
        self._client.call("faults/hang", seconds=seconds, count=count, target=target)

    def rate_limit(self, retry_after: int = 30, count: int | None = None, target: str = "all") -> None:
        self._client.call("faults/rate_limit", retry_after=retry_after, count=count, target=target)

    def delay_ms(self, ms: float, target: str = "all") -> None:
        self._client.call("faults/delay_ms", ms=ms, target=target)

    def expire_tokens(self) -> None:
        self._client.call("faults/expire_tokens")

    def clear(self, target: str = "all") -> None:
        self._client.call("faults/clear", target=target)

    def active(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._client.read("faults")
        return result


class EmulatorClient(BrowserLaunches):
    def __init__(self, base_url: str, *, timeout: float = CONTROL_TIMEOUT_S) -> None:
        self._base_url = require_loopback_url(base_url).rstrip("/")
        self._timeout = timeout
        self._http = requests.Session()
        self._config: dict[str, Any] | None = None
        self.faults = RemoteFaults(self)

    # -- plumbing -----------------------------------------------------------------------------

    def call(self, action: str, **body: Any) -> Any:
        response = self._http.post(f"{self._base_url}/_control/{action}", json=body, timeout=self._timeout)
        payload = _json(response)
        if response.status_code != 200:
            raise EmulatorError(str(payload.get("error", payload)) if isinstance(payload, dict) else str(payload))
        return payload["result"]

    def read(self, name: str) -> Any:
        response = self._http.get(f"{self._base_url}/_control/{name}", timeout=self._timeout)
        if response.status_code != 200:
            raise EmulatorError(f"GET /_control/{name} answered {response.status_code}: {response.text[:200]}")
        return _json(response)

    def close(self) -> None:
        self._http.close()

    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = dict(self.read("config"))
        return self._config

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def issuer(self) -> str:
        return str(self.config()["issuer"])

    @property
    def mode(self) -> str:
        return str(self.config()["mode"])

    @property
    def auth_url(self) -> str:
        return str(self.config()["auth_url"])

    @property
    def token_url(self) -> str:
        return str(self.config()["token_url"])

    @property
    def jwks_url(self) -> str:
        return str(self.config()["jwks_url"])

    @property
    def outcomes_url(self) -> str:
        return str(self.config()["outcomes_url"])

    # -- mirrors of LmsEmulator ---------------------------------------------------------------

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
        result: dict[str, Any] = self.call(
            "register_tool",
            client_id=client_id,
            login_url=login_url,
            launch_url=launch_url,
            jwks_url=jwks_url,
            deployment_ids=list(deployment_ids),
            lti11_consumer_key=lti11_consumer_key,
            lti11_secret=lti11_secret,
        )
        return result

    def platform_config(self, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("platform_config", client_id=client_id)
        return result

    def tool_registration(self, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("tool_registration", client_id=client_id)
        return result

    def add_course(self, context_id: str, title: str, *, label: str | None = None) -> None:
        self.call("add_course", context_id=context_id, title=title, label=label)

    def add_user(self, user_id: str, *, name: str, email: str, roles: Sequence[str] | None = None) -> None:
        self.call("add_user", user_id=user_id, name=name, email=email, roles=list(roles or ["student"]))

    def enroll(self, context_id: str, user_id: str, role: str = "student") -> None:
        self.call("enroll", context_id=context_id, user_id=user_id, role=role)

    def drop(self, context_id: str, user_id: str) -> None:
        self.call("drop", context_id=context_id, user_id=user_id)

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
        self.call(
            "add_link",
            context_id=context_id,
            resource_link_id=resource_link_id,
            title=title,
            custom=custom,
            line_item=line_item,
            score_maximum=score_maximum,
        )

    def line_item_url(self, context_id: str, resource_link_id: str, client_id: str) -> str | None:
        result = self.call(
            "line_item_url", context_id=context_id, resource_link_id=resource_link_id, client_id=client_id
        )
        return None if result is None else str(result)

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
        result: dict[str, str] = self.call(
            "lti13_login_params",
            client_id=client_id,
            user_id=user_id,
            context_id=context_id,
            resource_link_id=resource_link_id,
            deployment_id=deployment_id,
            message_hint_extra=message_hint_extra,
        )
        return result

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
        result: dict[str, Any] = self.call(
            "base_claims",
            client_id=client_id,
            user_id=user_id,
            context_id=context_id,
            resource_link_id=resource_link_id,
            nonce=nonce,
            deployment_id=deployment_id,
        )
        return result

    def sign_id_token(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        alg: str = "RS256",
        key: bytes | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        key_b64 = base64.b64encode(key).decode("ascii") if key is not None else None
        result = self.call("sign_id_token", claims=claims, kid=kid, alg=alg, key_b64=key_b64, headers=headers)
        return str(result["token"])

    def rotate_key(self, keep_old: bool = False) -> str:
        return str(self.call("rotate_key", keep_old=keep_old)["kid"])

    def public_key_pem(self) -> bytes:
        return str(self.call("public_key_pem")["pem"]).encode("ascii")

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
        result: dict[str, str] = self.call(
            "lti11_launch_params",
            consumer_key=consumer_key,
            launch_url=launch_url,
            user_id=user_id,
            context_id=context_id,
            resource_link_id=resource_link_id,
            roles=roles,
            custom=custom,
            with_outcome=with_outcome,
        )
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.read("state")
        return result

    def scores(self, context_id: str | None = None) -> list[dict[str, Any]]:
        scores: list[dict[str, Any]] = self.state()["scores"]
        return [s for s in scores if context_id is None or s["context_id"] == context_id]

    def score_history(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["score_history"]
        return result

    def outcomes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["outcomes"]
        return result

    def gradebook(self) -> dict[str, dict[str, dict[str, float]]]:
        result: dict[str, dict[str, dict[str, float]]] = self.state()["gradebook"]
        return result

    @property
    def counters(self) -> dict[str, int]:
        result: dict[str, int] = self.state()["counters"]
        return result

    @property
    def requests(self) -> list[RequestRecord]:
        return [RequestRecord(*row) for row in self.read("requests")]

    def reset_counters(self) -> None:
        self.call("reset_counters")

    def max_concurrent(self, group: str = "score") -> int:
        return int(self.state()["max_concurrent"][group])


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise EmulatorError(f"the emulator answered non-JSON ({response.status_code}): {response.text[:200]}") from exc
