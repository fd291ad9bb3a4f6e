"""The one place that reads the wall clock.

Domain rules take `now` as an argument; handlers and the local stack call `utcnow()` and
pass it in. Tests replace the clock with `set_clock` to simulate hours in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    return _clock() if _clock is not None else datetime.now(UTC)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    global _clock  # noqa: PLW0603 - a process-wide test seam, set once per test
    _clock = clock


def to_epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def queue_received_at(sent_epoch_ms: int, now: datetime) -> datetime:
    """When a queue received a message, on the same clock as `now`.

    The queue stamps the message on the wall clock; `now` may be a test's clock. The time the
    message waited (wall clock now minus its stamp) is taken from `now`, so both agree.
    """
    waited = datetime.now(UTC) - from_epoch(sent_epoch_ms / 1000)
    return now - max(waited, timedelta(0))
