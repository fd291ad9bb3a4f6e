"""Test help: DynamoDB's atomicity for tests that race threads against moto in one process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """One DynamoDB call at a time, as DynamoDB applies each conditional write atomically.

    moto's in-process backend checks a condition and writes without a lock, so two threads could
    both pass one condition there; real DynamoDB never lets them.
    """
    original = botocore.client.BaseClient._make_api_call
    lock = threading.Lock()

    def serialised(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name != "dynamodb":
            return original(self, operation, params)
        with lock:
            return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = serialised  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
