"""The control API: drive a running emulator from another process.

This is a test tool's back door: it is unauthenticated and exists only because the emulator binds
127.0.0.1 and nothing else. `POST /_control/{action}` takes the keyword arguments of the Python
method of the same name as a JSON object; `GET /_control/{state,config,requests}` read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .emulator import LmsEmulator

PREFIX = "/_control/"
Action = Callable[[dict[str, Any]], Any]


class ControlApi:
    def __init__(self, emulator: LmsEmulator) -> None:
        emu = emulator
        faults = emulator.faults
        self._emulator = emulator
        self._posts: dict[str, Action] = {
            "register_tool": lambda b: emu.register_tool(**b),
            "platform_config": lambda b: emu.platform_config(**b),
            "tool_registration": lambda b: emu.tool_registration(**b),
            "registration_url": lambda b: {"url": emu.registration_url(**b)},
            "registration_knobs": lambda b: emu.registration_knobs(**b),
            "migrate_from_lti11": lambda b: emu.migrate_from_lti11(**b),
            "add_course": lambda b: emu.add_course(**b),
            "add_user": lambda b: emu.add_user(**b),
            "enroll": lambda b: emu.enroll(**b),
            "drop": lambda b: emu.drop(**b),
            "add_link": lambda b: emu.add_link(**b),
            "line_item_url": lambda b: emu.line_item_url(**b),
            "refuse_line_item_put": lambda b: emu.refuse_line_item_put(**b),
            "rotate_key": lambda b: {"kid": emu.rotate_key(**b)},
            "public_key_pem": lambda _: {"pem": emu.public_key_pem().decode("ascii")},
            "reset_counters": lambda b: emu.reset_counters(**b),
            "lti13_login_params": lambda b: emu.lti13_login_params(**b),
            "lti11_launch_params": lambda b: emu.lti11_launch_params(**b),
            "base_claims": lambda b: emu.base_claims(**b),
            "sign_id_token": self._sign_id_token,
            "faults/fail": lambda b: faults.fail(**b),
            "faults/hang": lambda b: faults.hang(**b),
            "faults/rate_limit": lambda b: faults.rate_limit(**b),
            "faults/delay_ms": lambda b: faults.delay_ms(**b),
            "faults/expire_tokens": lambda b: faults.expire_tokens(**b),
            "faults/clear": lambda b: faults.clear(**b),
        }
        self._gets: dict[str, Callable[[], Any]] = {
            "state": emulator.state_snapshot,
            "config": emulator.config,
            "requests": lambda: [list(record) for record in emu.requests],
            "registration_requests": emu.registration_requests,
            "faults": faults.active,
        }

    def _sign_id_token(self, body: dict[str, Any]) -> dict[str, str]:
        # JSON cannot carry bytes: an HMAC key travels as text (key) or base64 (key_b64).
        key: bytes | None = None
        if body.get("key") is not None:
            key = str(body.pop("key")).encode("utf-8")
        if body.get("key_b64") is not None:
            key = base64.b64decode(str(body.pop("key_b64")))
        body.pop("key_b64", None)
        body.pop("key", None)
        return {"token": self._emulator.sign_id_token(key=key, **body)}

    def handle(self, request: Request) -> Response:
        action = request.path[len(PREFIX) :]
        if request.method == "GET" and action in self._gets:
            return json_response(200, self._gets[action]())
        if request.method != "POST" or action not in self._posts:
            return json_response(404, {"error": f"no control action {request.method} {action!r}"})
        try:
            body = json.loads(request.body.decode("utf-8") or "{}")
        except ValueError:
            return json_response(400, {"error": "the body must be a JSON object"})
        if not isinstance(body, dict):
            return json_response(400, {"error": "the body must be a JSON object"})
        try:
            result = self._posts[action](body)
        except (KeyError, ValueError, TypeError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return json_response(400, {"error": f"{action}: {message}"})
        return json_response(200, {"result": result})
