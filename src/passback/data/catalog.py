"""The activity catalog products publish: title, minimum questions, product URL."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from passback.data.config_models import Activity
from passback.data.errors import is_conditional_failure
from passback.data.tables import ensure_bound

_CACHE_SECONDS = 60.0


class ActivityRepository:
    """Activities change rarely and are read by every score message, so they are cached briefly."""

    def __init__(self) -> None:
        ensure_bound()
        self._cache: dict[str, tuple[float, Activity | None]] = {}
        self._lock = threading.Lock()

    def get(self, activity_id: str) -> Activity | None:
        with self._lock:
            hit = self._cache.get(activity_id)
        if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
            return hit[1]
        pk, sk = Activity.keys_for(activity_id=activity_id)
        try:
            found = Activity.get(pk, sk)
            item = found if isinstance(found, Activity) else None
        except Activity.DoesNotExist:
            item = None
        with self._lock:
            self._cache[activity_id] = (time.monotonic(), item)
        return item

    def put(
        self, *, activity_id: str, title: str, min_questions: int, product_url: str | None, now: datetime
    ) -> Activity:
        item = Activity(
            activity_id=activity_id,
            title=title,
            min_questions=min_questions,
            product_url=product_url,
            updated_at=now,
        )
        try:
            # Activity messages can arrive out of order: an older one must not undo a newer one.
            item.save(condition=Activity.pk.does_not_exist() | (Activity.updated_at <= now))
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            return self._fresh(activity_id) or item
        with self._lock:
            self._cache[activity_id] = (time.monotonic(), item)
        return item

    def _fresh(self, activity_id: str) -> Activity | None:
        with self._lock:
            self._cache.pop(activity_id, None)
        return self.get(activity_id)

    def list_all(self) -> list[Activity]:
        return [item for item in Activity.by_kind.query("activity") if isinstance(item, Activity)]
