"""A small thread pool for fan-out work, shared by the score, release and retry paths.

Its own module so the release and retry functions need not import the score pipeline (and the
pydantic message parsing it brings) just to run work in parallel.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run_all(
    items: list[Any], work: Callable[[Any], None], workers: int, *, on_error: Callable[[Any, Exception], None]
) -> None:
    """Run work over items on a small thread pool; errors go to on_error, never lost."""
    if not items:
        return
    if len(items) == 1 or workers <= 1:
        for item in items:
            try:
                work(item)
            except Exception as error:
                on_error(item, error)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = {pool.submit(work, item): item for item in items}
        for future, item in futures.items():
            failure = future.exception()
            if isinstance(failure, Exception):
                on_error(item, failure)
