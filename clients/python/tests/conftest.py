"""The client's tests run against the whole local stack in-process (tests/stack_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from stack_harness import running_stack

    with running_stack(monkeypatch) as made:
        yield made
