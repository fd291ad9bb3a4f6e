"""What every benchmark shares: the in-process local stack (moto, the real handlers, the LMS
emulator on 127.0.0.1), a seeded course, counting, and the small tables they print.

The stack is the one the integration tests use (tests/stack_harness.py): moto in this process,
the handlers imported from functions/*, the queues drained by the same pollers as `passback serve`.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the stack harness the integration tests use

# Benchmarks never log per message: the logger would dominate what they measure.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


@dataclass
class LocalStack:
    stack: Any
    lms: Any


@contextmanager
def local_stack(
    *,
    platforms: int = 1,
    token_lifetime: int = 3600,
    clock: Callable[[], float] | None = None,
    install: Callable[[], None] | None = None,
) -> Iterator[list[LocalStack]]:
    """moto plus the whole stack, and `platforms` LMS emulators each registered as a 1.3 platform."""
    from moto import mock_aws

    from passback import container
    from passback.emulator import LmsEmulator
    from passback.local.stack import create_resources, function_environment
    from passback.local.template import Template, default_template_path

    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("PASSBACK_", "AWS_")):
            del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    emulators: list[Any] = []
    try:
        with mock_aws():
            if install is not None:
                install()  # before any client exists, so hooks see every one
            template = Template(default_template_path())
            created = create_resources(template, base_url="http://127.0.0.1:9", endpoint_url=None)
            env = function_environment(template, created.refs)
            os.environ.update(env)
            container.reset()
            container.tool_keys().ensure_key(datetime.now(UTC))
            from stack_harness import Stack

            stack = Stack(env)
            os.environ["PASSBACK_BASE_URL"] = stack.base_url
            container.reset()
            try:
                for _ in range(platforms):
                    lms = LmsEmulator(mode="canvas", token_lifetime=token_lifetime, clock=clock).start()
                    emulators.append(lms)
                    stack.register_lti13(lms)
                yield [LocalStack(stack, lms) for lms in emulators]
            finally:
                for lms in emulators:
                    lms.stop()
                stack.close()
                container.reset()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def fast_moto() -> None:
    """Encode moto's DynamoDB answers with json.dumps instead of its generic serializer.

    The same DynamoDB JSON either way; moto's serializer costs ~5 ms per item, which would make
    moto, not Passback, the thing measured (tests/integration/test_gradebook_scale.py does the same).
    """
    import json

    from moto.dynamodb.responses import DynamoResult

    def execute_result(self: Any, context: Any) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def fast_moto_queries() -> None:
    """Let moto answer a base-table Query from the one partition it names.

    moto gathers and sorts every item of the table for each Query (`Table.all_items`), so a Query
    costs O(table) and a bench that fills a table with 30,000 items measures moto's sorting, not
    Passback. DynamoDB reads one partition; so does this (the same items, in the same order).
    """
    import threading

    from moto.dynamodb.models.table import Table

    hint = threading.local()
    all_items, query = Table.all_items, Table.query

    def partition_items(self: Any) -> list[Any]:
        key = getattr(hint, "key", None)
        if key is None:
            return all_items(self)
        found = self.items.get(key)
        if not found:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        base_table = kwargs.get("index_name") is None and (len(args) < 7 or args[6] is None)
        hint.key = hash_key if base_table else None
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            hint.key = None

    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A small fixed-width table (also valid Markdown, so it can be pasted into docs/performance.md)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    lines = [f"\n{title}\n"]
    lines.append("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
