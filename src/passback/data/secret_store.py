"""JSON documents in Secrets Manager: the tool's private keys and the LTI 1.1 consumer secrets.

Read once and kept for a few minutes per container (rotation reaches every container within
that time; a launch whose signature no cached secret verifies reads them again sooner); written
only by the CLI and by the local stack's first-use key generation.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from passback import aws

_CACHE_SECONDS = 300.0


class SecretDocument:
    def __init__(self, secret_id: str, *, cache_seconds: float = _CACHE_SECONDS) -> None:
        self.secret_id = secret_id
        self._cache_seconds = cache_seconds
        self._value: dict[str, Any] | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def read(self, *, fresh: bool = False, max_age: float | None = None) -> dict[str, Any]:
        """The document, from this container's copy unless it is older than `max_age` seconds
        (default: the cache time) or `fresh`."""
        with self._lock:
            stale = time.monotonic() - self._loaded_at > (self._cache_seconds if max_age is None else max_age)
            if self._value is None or stale or fresh:
                self._value = self._fetch()
                self._loaded_at = time.monotonic()
            return self._value

    def write(self, value: dict[str, Any]) -> None:
        client = aws.secrets()
        body = json.dumps(value, sort_keys=True)
        try:
            client.put_secret_value(SecretId=self.secret_id, SecretString=body)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=self.secret_id, SecretString=body)
        with self._lock:
            self._value = value
            self._loaded_at = time.monotonic()

    def _fetch(self) -> dict[str, Any]:
        client = aws.secrets()
        try:
            raw = client.get_secret_value(SecretId=self.secret_id)["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            return {}
        value = json.loads(raw)
        return value if isinstance(value, dict) else {}
