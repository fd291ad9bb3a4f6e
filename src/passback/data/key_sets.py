"""Platforms' public key sets (JWKS), shared by every launch function instance."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from passback.data.errors import is_conditional_failure
from passback.data.state_models import KeySetCache
from passback.data.tables import ensure_bound
from passback.ids import short_hash


class KeySetStore:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, url: str) -> tuple[dict[str, Any], datetime] | None:
        pk, sk = KeySetCache.keys_for(url_hash=short_hash(url, 32))
        try:
            item = KeySetCache.get(pk, sk)
        except KeySetCache.DoesNotExist:
            return None
        return json.loads(item.keys_json), item.fetched_at

    def put(self, url: str, keys: dict[str, Any], now: datetime, keep: timedelta) -> None:
        item = KeySetCache(
            url_hash=short_hash(url, 32), url=url, keys_json=json.dumps(keys), fetched_at=now, expires=now + keep
        )
        try:
            # A slower instance must not put back a key set older than one already stored.
            item.save(condition=KeySetCache.pk.does_not_exist() | (KeySetCache.fetched_at <= now))
        except Exception as error:
            if not is_conditional_failure(error):
                raise
