"""The activity catalog products publish: title, minimum questions, product URL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
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
        # Called after a put that changed an activity's title (set by the container): its LMS columns'
        # labels follow (services/column_labels.py). An error from it fails the put's caller, which retries.
        self.on_rename: Callable[[str, str, datetime], object] | None = None

    def exists(self, activity_id: str) -> bool:
        """Whether the catalog has the activity, read now (not from the cache): a GetItem."""
        pk, sk = Activity.keys_for(activity_id=activity_id)
        try:
            Activity.get(pk, sk)
        except Activity.DoesNotExist:
            return False
        return True

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

    def get_many(self, activity_ids: Iterable[str]) -> dict[str, Activity | None]:
        """Several activities at once (the gradebook's thresholds): cached ones, and one BatchGetItem for the rest."""
        found: dict[str, Activity | None] = {}
        missing: list[str] = []
        with self._lock:
            for activity_id in dict.fromkeys(activity_ids):
                hit = self._cache.get(activity_id)
                if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
                    found[activity_id] = hit[1]
                else:
                    missing.append(activity_id)
        for start in range(0, len(missing), 100):  # BatchGetItem takes 100 keys at most
            chunk = missing[start : start + 100]
            got = {
                item.activity_id: item
                for item in Activity.batch_get([Activity.keys_for(activity_id=a) for a in chunk])
                if isinstance(item, Activity)
            }
            with self._lock:
                for activity_id in chunk:
                    self._cache[activity_id] = (time.monotonic(), got.get(activity_id))
                    found[activity_id] = got.get(activity_id)
        return found

    def put(
        self, *, activity_id: str, title: str, min_questions: int, product_url: str | None, now: datetime
    ) -> Activity:
        before = self._read(activity_id) if self.on_rename is not None else None
        item = Activity(
            activity_id=activity_id,
            title=title,
            min_questions=min_questions,
            product_url=product_url,
            updated_at=now,
            # A new activity is in no course yet: nothing to relabel.
            labels_for=before.labels_for if before is not None else title,
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
        if self.on_rename is not None and item.labels_for != title:
            self.on_rename(activity_id, title, now)
            self._labels_queued(activity_id, title)
            item.labels_for = title
        return item

    def fresh(self, activity_id: str) -> Activity | None:
        """The activity as stored now (a GetItem), not as cached."""
        return self._fresh(activity_id)

    def _read(self, activity_id: str) -> Activity | None:
        pk, sk = Activity.keys_for(activity_id=activity_id)
        try:
            found = Activity.get(pk, sk, consistent_read=True)
        except Activity.DoesNotExist:
            return None
        return found if isinstance(found, Activity) else None

    def _labels_queued(self, activity_id: str, title: str) -> None:
        pk, sk = Activity.keys_for(activity_id=activity_id)
        try:
            Activity(pk=pk, sk=sk).update(actions=[Activity.labels_for.set(title)], condition=Activity.title == title)
        except Exception as error:
            if not is_conditional_failure(error):
                raise

    def _fresh(self, activity_id: str) -> Activity | None:
        with self._lock:
            self._cache.pop(activity_id, None)
        return self.get(activity_id)

    def list_all(self) -> list[Activity]:
        return [item for item in Activity.by_kind.query("activity") if isinstance(item, Activity)]
