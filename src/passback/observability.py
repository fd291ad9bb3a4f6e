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

_SECRET_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(oauth_signature|client_secret|client_assertion|access_token|id_token|secret)"
        r"([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]{4,}"
    ),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


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
