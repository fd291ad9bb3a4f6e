"""Maps each request to its endpoint and wraps it in the cross-cutting work: counters, the request
log, in-flight concurrency and injected faults."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import deep_linking, oidc
from .ags import Ags
from .lms import Lms
from .nrps import handle_memberships
from .outcomes import Outcomes
from .registration import Registrations
from .stats import RequestRecord
from .tokens import ToolKeyCache, handle_token
from .wire import HttpError, Request, Response, html_response, json_response, text_response

logger = logging.getLogger("passback.emulator")

Handler = Callable[[Request], Response]
CONTROL_PREFIX = "/_control/"

_AGS_COUNTERS = {
    ("lineitems", "GET"): "lineitem_get",
    ("lineitems", "POST"): "lineitem_create",
    ("lineitem", "GET"): "lineitem_get",
    ("scores", "POST"): "score",
    ("results", "GET"): "results",
    ("memberships", "GET"): "memberships",
}


@dataclass(frozen=True)
class _Route:
    handler: Handler
    counter: str | None = None
    fault_target: str | None = None
    groups: tuple[str, ...] = ()


class Router:
    def __init__(
        self, lms: Lms, control: Handler, stop_event: threading.Event, registrations: Registrations | None = None
    ) -> None:
        self._lms = lms
        self._registrations = registrations
        self._control = control
        self._stop = stop_event
        self._keys = ToolKeyCache(lms)
        self._ags = Ags(lms)
        self._outcomes = Outcomes(lms)

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            # The control API is the test's own channel: it is neither counted nor logged.
            try:
                return self._control(request)
            except Exception:
                logger.exception("control action failed: %s", request.path)
                return json_response(500, {"error": f"control action {request.path} failed; see the emulator's log"})
        started = time.time()
        route = self._resolve(request)
        stats = self._lms.stats
        stats.count("requests")
        if route.counter:
            stats.count(route.counter)
        with stats.in_flight(route.groups):
            response = self._faulted(route)
            if response is None:
                try:
                    response = route.handler(request)
                except HttpError as refusal:
                    response = refusal.response
                except Exception:
                    logger.exception("emulator endpoint failed for %s %s", request.method, request.path)
                    response = text_response(500, "internal error in the LMS emulator")
        stats.record(RequestRecord(started, request.method, request.target, response.status))
        return response

    def _faulted(self, route: _Route) -> Response | None:
        if route.fault_target is None:
            return None
        plan = self._lms.faults.plan(route.fault_target, json_errors=self._lms.mode == "canvas")
        if plan.wait_s > 0:
            # Waiting on the stop event lets stop() cut a long hang short.
            self._stop.wait(plan.wait_s)
        if plan.response is not None:
            self._lms.stats.count("faults_injected")
        return plan.response

    def _resolve(self, request: Request) -> _Route:
        method, path = request.method, request.path
        fixed = self._fixed_routes(method).get(path)
        if fixed is not None:
            return fixed
        ags_route = self._lms.urls.parse_ags(path)
        if ags_route is None:
            return _Route(lambda r: text_response(404, f"no such endpoint: {r.path}"))
        counter = _AGS_COUNTERS.get((ags_route.kind, method))
        if ags_route.kind == "memberships":
            return _Route(lambda r: handle_memberships(self._lms, r, ags_route), counter)
        if ags_route.kind == "scores" and method == "POST":
            return _Route(lambda r: self._ags.handle(r, ags_route), counter, "score", ("score", "all"))
        return _Route(lambda r: self._ags.handle(r, ags_route), counter)

    def _fixed_routes(self, method: str) -> dict[str, _Route]:
        token: Handler = (lambda r: handle_token(self._lms, self._keys, r)) if method == "POST" else _not_allowed
        registration: dict[str, _Route] = {}
        if self._registrations is not None:
            found, register = self._registrations.paths(self._lms)
            regs = self._registrations
            registration = {
                found: _Route(lambda r: regs.openid_configuration(self._lms, r), "openid_configuration"),
                register: _Route(regs.register, "registration"),
            }
        return {
            **registration,
            "/jwks": _Route(self._jwks if method == "GET" else _not_allowed, "jwks"),
            "/auth": _Route(lambda r: oidc.handle_auth(self._lms, r), "auth"),
            "/token": _Route(token, "token", "token", ("token", "all")),
            "/outcomes": _Route(self._outcomes.handle, "outcome", "outcomes", ("score", "outcomes", "all")),
            "/return": _Route(_returned),
            deep_linking.RETURN_PATH: _Route(
                lambda r: deep_linking.handle_response(self._lms, self._keys, r), "deep_link_response"
            ),
            "/": _Route(self._index),
        }

    def _jwks(self, _: Request) -> Response:
        return json_response(200, self._lms.keys.jwks())

    def _index(self, _: Request) -> Response:
        urls = self._lms.urls
        return json_response(
            200,
            {
                "name": self._lms.product_name,
                "issuer": self._lms.issuer,
                "auth_url": urls.auth,
                "token_url": urls.token,
                "jwks_url": urls.jwks,
                "outcomes_url": urls.outcomes,
            },
        )


def _returned(_: Request) -> Response:
    # Where launch_presentation_return_url points: a tool sending the user back lands here.
    return html_response(200, "<!DOCTYPE html><title>LMS</title><p>Back in the LMS.</p>")


def _not_allowed(request: Request) -> Response:
    return text_response(405, f"{request.method} is not allowed on {request.path}")
