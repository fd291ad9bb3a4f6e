"""AGS access tokens: client credentials with a JWT assertion signed by the tool's key.

Cached in memory and in DynamoDB (shared by every instance), used until a minute before
`expires_in`, and refreshed once when the LMS answers 401.

A refused token request is retried (rule 10), never shown as a permanent LMS error: the score
was never presented, and the usual causes pass (the LMS could not fetch our key set a moment,
a key rotation is propagating, clocks disagree). The refusal is remembered for a short while
so a course full of retrying cells asks the token endpoint once, not once per cell. pylti1p3's service connector
caches tokens without expiry and sets no timeouts, which is why this is not built on it.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from passback.clock import utcnow
from passback.data.tokens import AccessTokenStore, StoredToken, expired
from passback.domain.delivery import FailureKind
from passback.lms.errors import LmsError, lms_message
from passback.lms.http import Http, PlatformGate, retry_after_seconds
from passback.tool_keys import ToolKeys, issued_at

MARGIN_SECONDS = 60.0
REFUSAL_MEMORY_SECONDS = 30.0
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class TokenEndpoint:
    platform_id: str
    token_url: str
    client_id: str
    audience: str | None = None


class TokenCache:
    def __init__(self, http: Http, gate: PlatformGate, store: AccessTokenStore, keys: ToolKeys) -> None:
        self._http = http
        self._gate = gate
        self._store = store
        self._keys = keys
        self._memory: dict[str, StoredToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._refusals: dict[str, tuple[float, LmsError]] = {}
        self._lock = threading.Lock()
        self.requests_made = 0

    @staticmethod
    def cache_key(endpoint: TokenEndpoint, scopes: tuple[str, ...]) -> str:
        raw = "\x1f".join((endpoint.token_url, endpoint.client_id, " ".join(sorted(scopes))))
        return hashlib.sha256(raw.encode()).hexdigest()[:40]

    def token(self, endpoint: TokenEndpoint, scopes: tuple[str, ...], *, now: datetime | None = None) -> str:
        now = now or utcnow()
        key = self.cache_key(endpoint, scopes)
        found = self._memory.get(key)
        if found is not None and not expired(found, now, MARGIN_SECONDS):
            return found.access_token
        with self._key_lock(key):
            # Another thread may have fetched it while we waited.
            found = self._memory.get(key)
            if found is not None and not expired(found, now, MARGIN_SECONDS):
                return found.access_token
            stored = self._store.get(key)
            if stored is not None and not expired(stored, now, MARGIN_SECONDS):
                self._memory[key] = stored
                return stored.access_token
            refusal = self._refusals.get(key)
            if refusal is not None and now.timestamp() < refusal[0]:
                raise LmsError(refusal[1].message, status=refusal[1].status, kind=FailureKind.RETRYABLE, deferred=True)
            try:
                fresh = self._fetch(endpoint, scopes, now)
            except LmsError as error:
                if error.status is not None and error.status != 429:
                    self._refusals[key] = (now.timestamp() + REFUSAL_MEMORY_SECONDS, error)
                raise
            self._refusals.pop(key, None)
            self._memory[key] = fresh
            self._store.put(key, fresh, " ".join(scopes))
            return fresh.access_token

    def refused(self, endpoint: TokenEndpoint, scopes: tuple[str, ...], access_token: str) -> None:
        """The LMS answered 401 to this token: forget it everywhere so the next call fetches one."""
        key = self.cache_key(endpoint, scopes)
        with self._lock:
            if self._memory.get(key, StoredToken("", 0)).access_token == access_token:
                del self._memory[key]
        self._store.forget(key, access_token)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def _fetch(self, endpoint: TokenEndpoint, scopes: tuple[str, ...], now: datetime) -> StoredToken:
        assertion = self._keys.sign(
            {
                "iss": endpoint.client_id,
                "sub": endpoint.client_id,
                "aud": endpoint.audience or endpoint.token_url,
                "iat": issued_at(now),  # a little earlier: the LMS's clock may be behind Passback's
                "exp": int(now.timestamp()) + 300,
                "jti": uuid.uuid4().hex,
            }
        )
        with self._gate.slot(endpoint.platform_id):
            self.requests_made += 1
            response = self._http.request(
                "POST",
                endpoint.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion,
                    "scope": " ".join(scopes),
                },
                headers={"Accept": "application/json"},
            )
        if response.status_code == 429:
            wait = retry_after_seconds(response) or 60.0
            self._gate.back_off(endpoint.platform_id, wait)
        if response.status_code != 200:
            detail = lms_message(response.status_code, response.text, response.headers.get("Content-Type", ""))
            raise LmsError(
                f"The LMS refused an access token: {detail}",
                status=response.status_code,
                kind=FailureKind.RETRYABLE,
                retry_after=retry_after_seconds(response),
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as error:
            raise LmsError(
                "The LMS's token answer was not the JSON OAuth2 expects.", status=200, kind=FailureKind.RETRYABLE
            ) from error
        return StoredToken(access_token=token, expires_at=now.timestamp() + lifetime)
