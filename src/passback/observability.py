"""Logger, Metrics and Tracer (powertools), and the filter that keeps secrets out of logs.

Secrets are never passed to the logger in the first place; the filter is the second line:
anything that looks like a JWT, a PEM block, a bearer token or an OAuth signature is
replaced before the record is written.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics

_F = TypeVar("_F", bound=Callable[..., Any])

# Each pattern's `keep` group (if any) stays; the rest of the match becomes "[redacted]".
_SECRET_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*"),  # JWTs: id_tokens, assertions, sessions
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"(?i)(?P<keep>bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(?P<keep>(?:oauth_signature|client_secret|client_assertion|access_token|id_token|secret)"
        r"[\"'\\]*\s*[=:]\s*(?:\{\s*[\"'\\]*S[\"'\\]*\s*:\s*)?[\"'\\]*)[^\s\"'&,}\\]{4,}"
    ),
    # oauthlib logs each OAuth 1.0a signature it makes ("Signature: ..."); botocore logs SigV4 ones.
    re.compile(r"(?i)(?P<keep>\bsignature:\s*)[A-Za-z0-9+/=%_-]{8,}"),
    # A private JWK's members.
    re.compile(r"(?P<keep>[\"'](?:d|p|q|dp|dq|qi)[\"']\s*:\s*[\"'])[A-Za-z0-9_-]{16,}"),
    # A Secrets Manager document, whatever its keys are named (consumer keys map to shared secrets).
    re.compile(r"(?P<keep>SecretString).*", re.DOTALL),
)

# Library loggers that dump whole request or response payloads at DEBUG. Those payloads carry
# Secrets Manager documents, cached access tokens and learners' data in shapes no pattern can
# know (a conditional delete names its token only as ":0"), so only the operation is kept.
_PAYLOAD_DUMPS = {
    "botocore.endpoint": "Making request for",
    "botocore.parsers": "Response body",
    "pynamodb.connection.base": "Calling",
}


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if "keep" in pattern.groupindex:
            text = pattern.sub(lambda m: f"{m.group('keep')}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message as it is made, whichever logger (ours or a library's) made it."""
    if not isinstance(record.msg, str):
        return  # powertools' structured messages: RedactSecrets handles their strings
    prefix = _PAYLOAD_DUMPS.get(record.name)
    if prefix is not None and record.msg.startswith(prefix):
        operation = f" {record.args[0]}" if isinstance(record.args, tuple) and len(record.args) > 1 else ""
        record.msg, record.args = f"{prefix}{operation} [payload not logged]", None
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


_make_record = logging.getLogRecordFactory()


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    _redact_record(record)
    return record


# Process-wide, so that botocore, urllib3, oauthlib and pylti1p3 records are redacted even when an
# operator turns the root logger to DEBUG; the filter below still covers our records' extras.
logging.setLogRecordFactory(_redacting_record_factory)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in _as_tuple(record.args))
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in {"msg", "name", "levelname", "pathname", "filename"}:
                record.__dict__[key] = redact(value)
        return True


def _as_tuple(args: Any) -> tuple[Any, ...]:
    return args if isinstance(args, tuple) else (args,)


logger = Logger(service="passback")
logger.addFilter(RedactSecrets())
metrics = Metrics(namespace="Passback", service="passback")


class TracerLike(Protocol):
    """The part of powertools' Tracer the handlers use."""

    def capture_lambda_handler(self, handler: _F) -> _F: ...

    def capture_method(self, method: _F) -> _F: ...


class _NoTracer:
    """Stands in for powertools' Tracer when detailed tracing is off.

    Building a Tracer imports aws_xray_sdk (about 400 ms of a cold start) even when it is
    disabled; Lambda's own segments (Tracing: Active) need none of it.
    """

    def capture_lambda_handler(self, handler: _F) -> _F:
        return handler

    def capture_method(self, method: _F) -> _F:
        return method


def tracing_enabled() -> bool:
    """The template's DetailedTracing parameter, through powertools' own switch."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("true", "1", "yes", "on")


def _tracer() -> TracerLike:
    if not tracing_enabled():
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    return cast(TracerLike, Tracer(service="passback"))


tracer = _tracer()


_metrics_lock = threading.Lock()


def count(name: str, value: float = 1, unit: str = "Count") -> None:
    """Add to a metric; safe from the worker threads that sync cells in parallel."""
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    # powertools' add_metric prints the set to stdout by itself once a metric holds 100 values,
    # without checking POWERTOOLS_METRICS_DISABLED (only flush_metrics checks it): so check here.
    if is_metrics_disabled():
        return
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
