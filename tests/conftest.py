"""Fixtures shared by the whole suite.

- `aws`: moto in-process, with the tables, queues and secrets the SAM template declares, and the
  settings pointing at them (the same creation code as `passback serve`).
- `lms`: the LMS emulator, a real HTTP server on 127.0.0.1.
- `clock`: a controllable clock for the code under test (hours simulated in milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from passback import clock as passback_clock
from passback import container

TEST_BASE_URL = "http://127.0.0.1:9"


class Clock:
    """The clock the code under test reads through passback.clock.utcnow()."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    # Starts at the real time: launches carry real iat/exp, and the LMS emulator lives in real time.
    fake = Clock(datetime.now(UTC).replace(microsecond=0))
    passback_clock.set_clock(fake)
    yield fake
    passback_clock.set_clock(None)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from stack_harness import moto_environment

    with moto_environment(monkeypatch, TEST_BASE_URL) as env:
        yield env


@pytest.fixture
def stack(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The whole system in-process (see stack_harness.py), with its base URL in the settings."""
    from stack_harness import Stack

    made = Stack(aws)
    monkeypatch.setenv("PASSBACK_BASE_URL", made.base_url)
    container.reset()
    yield made
    made.close()


@pytest.fixture
def lms(clock: Clock) -> Iterator[Any]:
    """The LMS emulator (Canvas mode), a real HTTP server on 127.0.0.1, on the test's clock."""
    from passback.emulator import LmsEmulator

    with LmsEmulator(mode="canvas", clock=lambda: clock.now.timestamp()) as emulator:  # noqa: PLW0108 - now moves
        yield emulator
