"""What went wrong talking to an LMS, and whether trying again could help."""

from __future__ import annotations

from passback.domain.delivery import FailureKind, classify_lms_failure


class LmsError(Exception):
    """An LMS call failed. `kind` says whether a retry is worth it (rules 10 and 11)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        kind: FailureKind | None = None,
        retry_after: float | None = None,
        deferred: bool = False,
        timestamp_conflict: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind or classify_lms_failure(status, message, timestamp_conflict=timestamp_conflict)
        self.retry_after = retry_after
        # True when we did not call the LMS at all (the platform asked us to back off).
        self.deferred = deferred

    @property
    def retryable(self) -> bool:
        return self.kind is FailureKind.RETRYABLE


def lms_message(status: int, body: str, content_type: str) -> str:
    """The LMS's own words, shortened: JSON error messages are unwrapped, HTML is summarised."""
    import json

    text = body.strip()
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        found = _find_message(data)
        if found:
            return f"HTTP {status}: {found}"[:500]
    if text.startswith("<") and "html" in content_type:
        return f"HTTP {status} (the LMS answered with an HTML page)"
    return f"HTTP {status}: {text[:400]}" if text else f"HTTP {status}"


def _find_message(data: object) -> str | None:
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        for key in ("message", "error_description", "errors", "error", "reason", "detail"):
            if key in data:
                found = _find_message(data[key])
                if found:
                    return found
    if isinstance(data, list) and data:
        return _find_message(data[0])
    return None
