"""Platform key sets: cached in memory and DynamoDB, fetched again when an unknown `kid` appears.

pylti1p3 fetches the key set on every launch unless told to cache, and its cache never
refreshes on rotation. Here the set is fetched once and kept (memory, then DynamoDB, 24 hours);
a launch signed with a key it does not hold first looks at the shared copy (another instance may
have refetched already), then refetches, but an unknown `kid` triggers at most one refetch per URL
every 30 s per instance, so forged kids cannot turn us into a request amplifier. Only refetches
caused by an unknown `kid` count towards that limit: a rotation right after the first fetch is
still picked up at once. Times are Passback's clock (`now`), not the process's.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import requests

from passback.data.key_sets import KeySetStore
from passback.lti.errors import LaunchRefused

KEEP = timedelta(hours=24)
REFETCH_INTERVAL = timedelta(seconds=30)
FETCH_TIMEOUT = 5.0
MAX_BYTES = 256 * 1024


class PlatformKeySets:
    def __init__(self, store: KeySetStore, session: requests.Session | None = None) -> None:
        self._store = store
        self._session = session or requests.Session()
        self._memory: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self._last_refetch: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, url: str, kid: str, now: datetime) -> dict[str, Any] | None:
        """The JWK with this kid from the platform's key set, or None if the platform has none."""
        fetched_at, keys = self._known(url, now)
        found = _find(keys, kid)
        if found is not None:
            return found
        shared = self._store.get(url)
        if shared is not None and shared[1] > fetched_at:
            self._remember(url, shared[1], shared[0])
            found = _find(shared[0], kid)
            if found is not None:
                return found
        with self._lock:
            last = self._last_refetch.get(url)
            if last is not None and timedelta(0) <= now - last < REFETCH_INTERVAL:
                return None
            self._last_refetch[url] = now
        return _find(self._fetch(url, now), kid)

    def _known(self, url: str, now: datetime) -> tuple[datetime, dict[str, Any]]:
        with self._lock:
            hit = self._memory.get(url)
        if hit is not None and now - hit[0] < KEEP:
            return hit
        stored = self._store.get(url)
        if stored is not None and now - stored[1] < KEEP:
            self._remember(url, stored[1], stored[0])
            return stored[1], stored[0]
        return now, self._fetch(url, now)

    def _remember(self, url: str, fetched_at: datetime, keys: dict[str, Any]) -> None:
        with self._lock:
            self._memory[url] = (fetched_at, keys)

    def _fetch(self, url: str, now: datetime) -> dict[str, Any]:
        with self._lock:
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
                f"the LMS's public key set at {url} could not be fetched ({str(error)[:200]})",
                "The LMS administrator should check the key set URL registered in Passback "
                "(`passback platforms list`) and that the LMS serves it.",
                status=502,
            ) from error
        self._store.put(url, keys, now, KEEP)
        self._remember(url, now, keys)
        return keys


def _find(keys: dict[str, Any], kid: str) -> dict[str, Any] | None:
    for key in keys.get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None
