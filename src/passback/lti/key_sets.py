"""Platform key sets: cached in memory and DynamoDB, fetched again when an unknown `kid` appears.

pylti1p3 fetches the key set on every launch unless told to cache, and its cache never
refreshes on rotation. Here a launch signed with a key we have not seen triggers one refetch
(at most every 30 s per URL, so forged kids cannot turn us into a request amplifier).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import requests

from passback.data.key_sets import KeySetStore
from passback.lti.errors import LaunchRefused

KEEP = timedelta(hours=24)
REFETCH_INTERVAL = 30.0
FETCH_TIMEOUT = 5.0
MAX_BYTES = 256 * 1024


class PlatformKeySets:
    def __init__(self, store: KeySetStore, session: requests.Session | None = None) -> None:
        self._store = store
        self._session = session or requests.Session()
        self._memory: dict[str, tuple[float, dict[str, Any]]] = {}
        self._last_fetch: dict[str, float] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, url: str, kid: str, now: datetime) -> dict[str, Any] | None:
        """The JWK with this kid from the platform's key set, or None if the platform has none."""
        keys = self._known(url, now)
        found = _find(keys, kid)
        if found is not None:
            return found
        with self._lock:
            recently = time.monotonic() - self._last_fetch.get(url, -REFETCH_INTERVAL) < REFETCH_INTERVAL
        if recently:
            return None
        return _find(self._fetch(url, now), kid)

    def _known(self, url: str, now: datetime) -> dict[str, Any]:
        with self._lock:
            hit = self._memory.get(url)
        if hit is not None and time.monotonic() - hit[0] < KEEP.total_seconds():
            return hit[1]
        stored = self._store.get(url)
        if stored is not None and now - stored[1] < KEEP:
            with self._lock:
                self._memory[url] = (time.monotonic(), stored[0])
            return stored[0]
        return self._fetch(url, now)

    def _fetch(self, url: str, now: datetime) -> dict[str, Any]:
        with self._lock:
            self._last_fetch[url] = time.monotonic()
            self.fetches += 1
        try:
            response = self._session.get(url, timeout=FETCH_TIMEOUT, headers={"Accept": "application/json"})
            if response.status_code != 200 or len(response.content) > MAX_BYTES:
                raise ValueError(f"HTTP {response.status_code}, {len(response.content)} bytes")
            keys = response.json()
            if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
                raise ValueError("not a JWKS document")
        except (requests.RequestException, ValueError) as error:
            raise LaunchRefused(
                "platform key set",
                f"the LMS's public key set at {url} could not be fetched ({error})",
                "The LMS administrator should check the key set URL registered in Passback "
                "(`passback platforms list`) and that the LMS serves it.",
                status=502,
            ) from error
        self._store.put(url, keys, now, KEEP)
        with self._lock:
            self._memory[url] = (time.monotonic(), keys)
        return keys


def _find(keys: dict[str, Any], kid: str) -> dict[str, Any] | None:
    for key in keys.get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None
