"""The HTTP side: tokens (client credentials + a signed JWT assertion), batches, retries."""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

import requests

from passback_client import messages as builders

BATCH = 10  # the API's (and SQS's) batch limit
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RETRIED = frozenset({429, 500, 502, 503, 504})
# Transient failures of the connection; an answer cut off mid-body is one too (the request may have been
# taken: resending is safe, the API is idempotent by message_id).
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class PassbackError(Exception):
    """Base of the errors this library raises. `unsent` holds every message that was not accepted."""

    def __init__(self, text: str, unsent: Sequence[dict[str, Any]] = (), accepted: Sequence[str] = ()) -> None:
        super().__init__(text)
        self.unsent = list(unsent)
        self.accepted = list(accepted)


class InvalidMessage(PassbackError):
    """A message fails the published schema: nothing was sent. `problems` maps message index to lines."""

    def __init__(self, problems: dict[int, list[str]], unsent: Sequence[dict[str, Any]]) -> None:
        lines = [f"message {i}: {p}" for i, found in problems.items() for p in found]
        super().__init__("invalid messages, none sent:\n  " + "\n  ".join(lines), unsent)
        self.problems = problems


class Refused(PassbackError):
    """The API refused a batch (400, 401, 403, 413): its `status`, `body` and problems; those messages are unsent."""

    def __init__(
        self, status: int, body: dict[str, Any], unsent: Sequence[dict[str, Any]], accepted: Sequence[str]
    ) -> None:
        text = f"{status} {body.get('error', '')}: {body.get('error_description', '')}"
        for problem in body.get("problems") or []:
            text += f"\n  message {problem.get('index')} ({problem.get('message_id')}): {problem.get('field')} "
            text += str(problem.get("problem"))
        super().__init__(text, unsent, accepted)
        self.status = status
        self.body = body


class DeliveryFailed(PassbackError):
    """Retries ran out (429s, 5xx or no connection): those messages are unsent; send them again later."""


class PassbackClient:
    def __init__(
        self,
        base_url: str,
        product_id: str,
        kid: str,
        private_key_pem: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_attempts: int = 10,
        backoff_base: float = 0.25,
        backoff_cap: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        validate: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.product_id = product_id
        self.kid = kid
        self._key = private_key_pem
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.validate = validate
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self.retries = 0  # how many times a request was retried (429, 5xx, connection errors)

    # ---------------------------------------------------------------- builders
    score = staticmethod(builders.score)
    activity = staticmethod(builders.activity)

    # ---------------------------------------------------------------- tokens
    def token(self, *, fresh: bool = False) -> str:
        """A cached access token, renewed a minute before it expires."""
        with self._lock:
            if not fresh and self._token is not None and time.monotonic() < self._token[1]:
                return self._token[0]
        answer = self._with_retries(
            lambda: self.session.post(
                f"{self.base_url}/api/v1/token",
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": self._assertion(),
                    "scope": "scores:write scores:read",
                },
                timeout=self.timeout,
            ),
            what="token request",
            unsent=(),
        )
        if answer.status_code != 200:
            raise Refused(answer.status_code, _json(answer), (), ())
        body = answer.json()
        with self._lock:
            self._token = (str(body["access_token"]), time.monotonic() + max(0, int(body["expires_in"]) - 60))
            return self._token[0]

    def _assertion(self) -> str:
        import jwt

        now = int(time.time())
        claims = {
            "iss": self.product_id,
            "sub": self.product_id,
            "aud": f"{self.base_url}/api/v1/token",
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    # ---------------------------------------------------------------- messages
    def send(self, items: Iterable[dict[str, Any]]) -> list[str]:
        """Send messages in batches of ten; the accepted ids, in order. Raises with every unsent message."""
        pending = list(items)
        if self.validate:
            problems = {i: found for i, m in enumerate(pending) if (found := builders.check(m))}
            if problems:
                raise InvalidMessage(problems, pending)
        accepted: list[str] = []
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            try:
                accepted.extend(self._send_batch(batch))
            except PassbackError as error:
                raise _with_rest(error, pending[start:], accepted) from None
            except Exception as error:  # anything unforeseen still says which messages were not sent
                failed = DeliveryFailed(f"batch failed: {type(error).__name__}: {error}"[:500], batch)
                raise _with_rest(failed, pending[start:], accepted) from error
        return accepted

    def _send_batch(self, batch: list[dict[str, Any]]) -> list[str]:
        renewed = False
        while True:
            answer = self._with_retries(
                lambda: self.session.post(
                    f"{self.base_url}/api/v1/messages",
                    json={"messages": batch},
                    headers={"Authorization": f"Bearer {self.token()}"},  # cached; renewed when due
                    timeout=self.timeout,
                ),
                what="batch",
                unsent=batch,
            )
            if answer.status_code == 202:
                try:
                    return [str(i) for i in answer.json()["accepted"]]
                except (ValueError, KeyError, TypeError):
                    # Taken or not, we cannot tell: the batch counts as unsent (a resend is idempotent).
                    raise DeliveryFailed(f"202 with an unreadable body: {answer.text[:200]!r}", batch) from None
            if answer.status_code == 401 and not renewed:
                renewed = True  # an expired token, or the key it was issued for was rotated out
                self.token(fresh=True)
                continue
            raise Refused(answer.status_code, _json(answer), batch, ())

    def status(self, message_id: str) -> dict[str, Any] | None:
        """What became of a message: accepted, applied, unchanged or dead-lettered (None: unknown id)."""
        token = self.token()
        quoted = quote(message_id, safe="")  # an id may hold '?', '/' or '%'
        answer = self._with_retries(
            lambda: self.session.get(
                f"{self.base_url}/api/v1/messages/{quoted}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            ),
            what="status request",
            unsent=(),
        )
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise Refused(answer.status_code, _json(answer), (), ())
        found: dict[str, Any] = answer.json()
        return found

    # ---------------------------------------------------------------- retries
    def _with_retries(
        self, call: Callable[[], requests.Response], *, what: str, unsent: Sequence[dict[str, Any]]
    ) -> requests.Response:
        """Retry 429 and 5xx (honouring Retry-After) and connection errors, with capped, fully jittered backoff."""
        last = ""
        for attempt in range(self.max_attempts):
            try:
                answer = call()
            except TRANSIENT as error:
                last, wait = f"{type(error).__name__}", self._backoff(attempt)
            else:
                if answer.status_code not in RETRIED:
                    return answer
                last, wait = f"HTTP {answer.status_code}", self._backoff(attempt, answer.headers.get("Retry-After"))
            if attempt + 1 < self.max_attempts:
                self.retries += 1
                self.sleep(wait)
        raise DeliveryFailed(f"{what} failed {self.max_attempts} times (last: {last}); nothing was lost", unsent)

    def _backoff(self, attempt: int, retry_after: str | None = None) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        jittered = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
        if retry_after is not None:
            try:
                asked = float(retry_after)
            except ValueError:
                return jittered  # an HTTP date, or nonsense
            if math.isfinite(asked):
                # Honoured, but never beyond the cap: a broken proxy's huge value must not park the caller.
                return min(max(asked, 0.0) + jittered * 0.1, self.backoff_cap)
        return jittered


def _with_rest(error: PassbackError, rest: Sequence[dict[str, Any]], accepted: Sequence[str]) -> PassbackError:
    """The same error, its unsent list widened to every message not yet accepted."""
    error.unsent = list(rest)
    error.accepted = list(accepted)
    return error


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        return {"error": "http_error", "error_description": answer.text[:300]}
    return found if isinstance(found, dict) else {"error": "http_error", "error_description": str(found)[:300]}
