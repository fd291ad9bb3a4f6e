"""One HTTP session per container, a timeout on every call, and courtesy to each LMS platform.

Courtesy: at most N concurrent requests per platform from this container, and when a
platform answers 429 every request to it waits until its Retry-After has passed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from passback.clock import utcnow
from passback.domain.delivery import FailureKind
from passback.lms.errors import LmsError


class PlatformGate:
    """Per-platform concurrency cap and 429 backoff, shared by every sync in this container."""

    def __init__(self, concurrency: int, slot_wait: float | None = None) -> None:
        self._concurrency = concurrency
        # How long a call waits for a turn (None: for ever). A send holds its cell's claim meanwhile,
        # so the container sets it to fit the claim's lease (domain.delivery.slot_wait_budget).
        self._slot_wait = slot_wait
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _semaphore(self, platform: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._semaphores.get(platform)
            if sem is None:
                sem = self._semaphores[platform] = threading.BoundedSemaphore(self._concurrency)
            return sem

    def blocked_for(self, platform: str) -> float:
        # The system clock (passback.clock), like every other schedule here, so tests can simulate it.
        with self._lock:
            return max(0.0, self._blocked_until.get(platform, 0.0) - utcnow().timestamp())

    def back_off(self, platform: str, seconds: float) -> None:
        with self._lock:
            until = utcnow().timestamp() + seconds
            self._blocked_until[platform] = max(until, self._blocked_until.get(platform, 0.0))

    @contextlib.contextmanager
    def slot(self, platform: str) -> Iterator[None]:
        wait = self.blocked_for(platform)
        if wait > 0:
            raise LmsError(
                f"The LMS asked us to slow down (HTTP 429); waiting {wait:.0f} s before calling it again.",
                status=429,
                retry_after=wait,
                deferred=True,
            )
        semaphore = self._semaphore(platform)
        if not semaphore.acquire(timeout=self._slot_wait):
            # Not called at all: a deferred, retryable failure (the cell is retried by its schedule),
            # rather than a POST that might outlive the claim it is sent under.
            raise LmsError(
                f"Too many calls to this LMS were in flight (at most {self._concurrency} at once): no turn came "
                f"within {self._slot_wait:.0f} s, so this grade is sent again shortly.",
                status=None,
                deferred=True,
            )
        try:
            yield
        finally:
            semaphore.release()


class Http:
    """requests.Session with a mandatory timeout (requests has none by default)."""

    def __init__(self, timeout: float, pool_size: int = 32) -> None:
        self.timeout = timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "Passback/0.1 (LTI grade passback)"

    def request(self, method: str, url: str, *, max_bytes: int | None = None, **kwargs: Any) -> requests.Response:
        """`max_bytes`: the most body this answer may have (a paged LMS collection read into memory); a
        longer one is refused (permanent) after reading at most that much, whatever its Content-Length."""
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        try:
            if max_bytes is None:
                return self.session.request(method, url, **kwargs)
            return self._bounded(self.session.request(method, url, stream=True, **kwargs), max_bytes)
        except requests.Timeout as error:
            raise LmsError(f"The LMS did not answer within {self.timeout:.0f} s.", status=None) from error
        except requests.ConnectionError as error:
            raise LmsError(f"Could not connect to the LMS: {type(error).__name__}.", status=None) from error
        except requests.RequestException as error:
            raise LmsError(f"The request to the LMS failed: {type(error).__name__}.", status=None) from error

    def _bounded(self, response: requests.Response, max_bytes: int) -> requests.Response:
        too_big = LmsError(
            f"The LMS's answer is larger than {max_bytes // 1024} KiB; Passback stopped reading it.",
            status=None,
            kind=FailureKind.PERMANENT,
        )
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_big
            body = bytearray()
            deadline = time.monotonic() + 4 * self.timeout  # a body dripped slowly still ends
            for chunk in response.iter_content(chunk_size=65536):
                body += chunk
                if len(body) > max_bytes:
                    raise too_big
                if time.monotonic() > deadline:
                    raise LmsError(f"The LMS's answer took over {4 * self.timeout:.0f} s to arrive.", status=None)
        finally:
            response.close()
        response._content = bytes(body)  # what `.json()` and `.text` read, as if not streamed
        return response


class PageLinks:
    """The `Link: rel="next"` chain of a paged LMS collection (AGS line items, NRPS members), followed safely.

    Each page is fetched with the tool's bearer token, so a next link is followed only on the host of the
    first page (the URL the signed launch named): a next link to any other host would hand the token to
    it. A chain that comes back to a page already read is an LMS bug that would otherwise repeat until
    the page cap; both are refused (permanent: retrying reads the same links).
    """

    def __init__(self, first_url: str) -> None:
        self._origin = _origin(first_url)
        self._seen = {first_url}

    def next_url(self, response: requests.Response) -> str | None:
        raw = response.links.get("next", {}).get("url")
        if not raw:
            return None
        url = urljoin(response.url or "", str(raw))
        if _origin(url) != self._origin:
            raise LmsError(
                f"The LMS's next-page link points to another host ({urlsplit(url).netloc[:100]!r}, not "
                f"{self._origin[1]!r}); Passback does not send its token there and stopped reading.",
                status=None,
                kind=FailureKind.PERMANENT,
            )
        if url in self._seen:
            raise LmsError(
                "The LMS's next-page links loop back to a page already read; Passback stopped reading.",
                status=None,
                kind=FailureKind.PERMANENT,
            )
        self._seen.add(url)
        return url


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def retry_after_seconds(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
