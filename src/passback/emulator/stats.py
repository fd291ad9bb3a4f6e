"""Request log, per-endpoint counters and in-flight concurrency, for tests to assert on."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

COUNTER_NAMES = (
    "requests",
    "jwks",
    "auth",
    "token",
    "tool_jwks_fetch",
    "score",
    "score_accepted",
    "outcome",
    "outcome_accepted",
    "lineitem_create",
    "lineitem_get",
    "results",
    "memberships",
    "faults_injected",
)

# "score" counts AGS score POSTs and Basic Outcomes together: both are "write a grade" calls and a
# per-platform concurrency cap in the tool must hold across the two. "all" spans the three
# fault targets (token, score, outcomes); other endpoints are not tracked.
CONCURRENCY_GROUPS = ("score", "token", "outcomes", "all")


# Long benchmark or demo runs must not grow memory without bound; counters stay exact regardless.
REQUEST_LOG_LIMIT = 100_000


class RequestRecord(NamedTuple):
    time: float
    method: str
    path: str
    status: int


class Stats:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._in_flight: dict[str, int] = dict.fromkeys(CONCURRENCY_GROUPS, 0)
        self._max: dict[str, int] = dict.fromkeys(CONCURRENCY_GROUPS, 0)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + amount

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    @contextmanager
    def in_flight(self, groups: tuple[str, ...]) -> Iterator[None]:
        with self._lock:
            for group in groups:
                self._in_flight[group] += 1
                self._max[group] = max(self._max[group], self._in_flight[group])
        try:
            yield
        finally:
            with self._lock:
                for group in groups:
                    self._in_flight[group] -= 1

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def requests(self) -> list[RequestRecord]:
        """The most recent requests (up to REQUEST_LOG_LIMIT), oldest first."""
        with self._lock:
            return list(self._requests)

    def max_concurrent(self, group: str = "score") -> int:
        with self._lock:
            if group not in self._max:
                raise ValueError(f"unknown concurrency group {group!r}; use one of {CONCURRENCY_GROUPS}")
            return self._max[group]

    def all_max_concurrent(self) -> dict[str, int]:
        with self._lock:
            return dict(self._max)

    def reset(self) -> None:
        """Zero counters, the request log and the concurrency maxima (requests in flight stay counted)."""
        with self._lock:
            self._counters = dict.fromkeys(COUNTER_NAMES, 0)
            self._requests.clear()
            self._max = dict(self._in_flight)
