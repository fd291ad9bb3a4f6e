"""OIDC launch state and used nonces, so any instance can finish a login another started."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, PutError

from passback.data.errors import is_conditional_failure
from passback.data.state_models import LaunchState, Nonce
from passback.data.tables import ensure_bound


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    issuer: str
    client_id: str
    expires: datetime


class LaunchStateStore:
    def __init__(self) -> None:
        ensure_bound()

    def save(self, *, state: str, nonce: str, issuer: str, client_id: str, now: datetime, ttl: timedelta) -> None:
        LaunchState(
            state=state, nonce=nonce, issuer=issuer, client_id=client_id, created_at=now, expires=now + ttl
        ).save(condition=LaunchState.pk.does_not_exist())

    def consume(self, state: str, now: datetime) -> PendingLogin | None:
        """Take the login that issued this state, once: a second launch with it finds nothing."""
        pk, sk = LaunchState.keys_for(state=state)
        try:
            item = LaunchState.get(pk, sk, consistent_read=True)
        except LaunchState.DoesNotExist:
            return None
        try:
            item.delete(condition=LaunchState.nonce == item.nonce)
        except DeleteError as error:
            if is_conditional_failure(error):
                return None  # another request consumed it between our read and delete
            raise
        if item.expires is None or item.expires <= now:
            return None  # TTL deletion is lazy: an expired state must not count
        return PendingLogin(
            state=state, nonce=item.nonce, issuer=item.issuer, client_id=item.client_id, expires=item.expires
        )


class NonceStore:
    def __init__(self) -> None:
        ensure_bound()

    def consume(self, scope: str, nonce: str, now: datetime, keep_until: datetime) -> bool:
        """Record a nonce as used; False if it was used before (a replay)."""
        item = Nonce(scope=scope, nonce=nonce, used_at=now, expires=keep_until)
        try:
            item.save(condition=Nonce.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True
