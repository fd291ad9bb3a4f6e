"""LMS access tokens shared by every Lambda instance (the in-memory cache sits in front)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from passback.clock import from_epoch
from passback.data.errors import is_conditional_failure
from passback.data.state_models import AccessToken
from passback.data.tables import ensure_bound


@dataclass(frozen=True)
class StoredToken:
    access_token: str
    expires_at: float


class AccessTokenStore:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, cache_key: str) -> StoredToken | None:
        pk, sk = AccessToken.keys_for(cache_key=cache_key)
        try:
            item = AccessToken.get(pk, sk)
        except AccessToken.DoesNotExist:
            return None
        return StoredToken(access_token=item.access_token, expires_at=float(item.expires_at))

    def put(self, cache_key: str, token: StoredToken, scope: str) -> None:
        item = AccessToken(
            cache_key=cache_key,
            access_token=token.access_token,
            expires_at=token.expires_at,
            scope=scope,
            expires=from_epoch(token.expires_at),
        )
        try:
            # Never replace a token that lives longer (another instance fetched a fresher one).
            item.save(condition=AccessToken.pk.does_not_exist() | (AccessToken.expires_at < token.expires_at))
        except Exception as error:
            if not is_conditional_failure(error):
                raise

    def forget(self, cache_key: str, access_token: str) -> None:
        """Drop a token the LMS refused, unless another instance already replaced it."""
        pk, sk = AccessToken.keys_for(cache_key=cache_key)
        try:
            AccessToken(pk=pk, sk=sk).delete(condition=AccessToken.access_token == access_token)
        except Exception as error:
            if not is_conditional_failure(error):
                raise


def expired(token: StoredToken, now: datetime, margin_seconds: float) -> bool:
    return token.expires_at - margin_seconds <= now.timestamp()
