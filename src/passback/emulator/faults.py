"""Fault switches for reliability tests: failures, hangs, rate limits, latency, token expiry.

Faults apply to three endpoints, each a `target`: "score" (AGS score POSTs), "token" (the OAuth2
token endpoint) and "outcomes" (LTI 1.1 Basic Outcomes); "all" means the three. The server asks
for a `FaultPlan` per request and carries it out outside the lock, so a hang never blocks others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from .state import EmulatorState
from .wire import Response, json_response, text_response

Target = Literal["score", "token", "outcomes", "all"]
TARGETS: tuple[str, ...] = ("score", "token", "outcomes", "all")


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown fault target {target!r}; use one of {TARGETS}")
    return target


@dataclass
class _Rule:
    kind: Literal["fail", "rate_limit", "hang", "delay", "jitter"]
    target: str
    remaining: int | None
    status: int = 500
    body: str = ""
    seconds: float = 0.0
    retry_after: int = 0
    low: float = 0.0

    def applies_to(self, target: str) -> bool:
        return self.target in ("all", target)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "remaining": self.remaining,
            "status": self.status,
            "seconds": self.seconds,
            "retry_after": self.retry_after,
        }


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request: wait this long, then answer `response` instead of handling it."""

    wait_s: float
    response: Response | None


class Faults:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._rules: list[_Rule] = []
        self._random = random.Random()  # noqa: S311 - latency, not secrets

    def fail(
        self, status: int = 500, count: int | None = None, body: str = "injected failure", target: str = "all"
    ) -> None:
        """Answer `status` with `body` to the next `count` requests (None: until cleared)."""
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        self._add(_Rule("fail", check_target(target), _count(count), status=status, body=body))

    def hang(self, seconds: float, count: int | None = None, target: str = "all") -> None:
        """Sleep `seconds` before handling the request; it is still handled, as a slow LMS would."""
        self._add(_Rule("hang", check_target(target), _count(count), seconds=_seconds(seconds)))

    def rate_limit(self, retry_after: int = 30, count: int | None = None, target: str = "all") -> None:
        self._add(_Rule("rate_limit", check_target(target), _count(count), status=429, retry_after=retry_after))

    def delay_ms(self, ms: float, target: str = "all") -> None:
        """Add latency to every answer of the target; a new delay replaces the old one."""
        check_target(target)
        with self._state.lock:
            self._rules = [r for r in self._rules if not (r.kind == "delay" and r.target == target)]
            if ms > 0:
                self._rules.append(_Rule("delay", target, None, seconds=_seconds(ms / 1000.0)))

    def jitter_ms(self, low_ms: float, high_ms: float, target: str = "all", seed: int | None = None) -> None:
        """Add a random latency, uniform in [low_ms, high_ms], to every answer of the target (replaces
        an earlier jitter): concurrent senders' requests then finish in any order, as on a real LMS."""
        check_target(target)
        if not 0 <= low_ms <= high_ms:
            raise ValueError("jitter needs 0 <= low_ms <= high_ms")
        with self._state.lock:
            self._rules = [r for r in self._rules if not (r.kind == "jitter" and r.target == target)]
            self._rules.append(_Rule("jitter", target, None, seconds=high_ms / 1000.0, low=low_ms / 1000.0))
            self._random = random.Random(seed)  # noqa: S311 - latency, not secrets

    def expire_tokens(self) -> None:
        """Treat every access token issued so far as expired; tokens issued afterwards work."""
        with self._state.lock:
            self._state.token_epoch += 1

    def clear(self, target: str = "all") -> None:
        """Drop the fault rules for `target` ("all": every rule). Expired tokens stay expired."""
        check_target(target)
        with self._state.lock:
            self._rules = [] if target == "all" else [r for r in self._rules if r.target != target]

    def active(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [rule.as_dict() for rule in self._rules]

    def plan(self, target: str, json_errors: bool = True) -> FaultPlan:
        with self._state.lock:
            wait = sum(r.seconds for r in self._rules if r.kind == "delay" and r.applies_to(target))
            wait += sum(
                self._random.uniform(r.low, r.seconds)
                for r in self._rules
                if r.kind == "jitter" and r.applies_to(target)
            )
            hang = next((r for r in self._rules if r.kind == "hang" and r.applies_to(target)), None)
            if hang is not None:
                wait += hang.seconds
                self._consume(hang)
            failing = next((r for r in self._rules if r.kind in ("fail", "rate_limit") and r.applies_to(target)), None)
            response = None
            if failing is not None:
                self._consume(failing)
                response = _fault_response(failing, json_errors)
        return FaultPlan(wait, response)

    def _add(self, rule: _Rule) -> None:
        with self._state.lock:
            self._rules.append(rule)

    def _consume(self, rule: _Rule) -> None:
        if rule.remaining is None:
            return
        rule.remaining -= 1
        if rule.remaining <= 0:
            self._rules.remove(rule)


def _fault_response(rule: _Rule, json_errors: bool) -> Response:
    if rule.kind == "rate_limit":
        response = (
            json_response(429, {"errors": [{"message": "Rate limit exceeded"}]})
            if json_errors
            else text_response(429, "Rate limit exceeded")
        )
        response.headers["Retry-After"] = str(rule.retry_after)
        return response
    return text_response(rule.status, rule.body)


def _count(count: int | None) -> int | None:
    if count is not None and count < 1:
        raise ValueError("count must be at least 1 (or None for 'until cleared')")
    return count


def _seconds(seconds: float) -> float:
    if seconds < 0:
        raise ValueError("durations must not be negative")
    return float(seconds)
