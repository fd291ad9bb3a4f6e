"""One-time LTI Dynamic Registration invites (`passback platforms invite`), kept by the hash of their token."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from passback.data.errors import is_conditional_failure
from passback.data.state_models import RegistrationInvite
from passback.data.tables import ensure_bound


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Invite:
    name: str | None
    created_at: datetime
    expires: datetime
    used_at: datetime | None


class InviteStore:
    def __init__(self) -> None:
        ensure_bound()

    def issue(self, token: str, *, name: str | None, now: datetime, valid_for: timedelta) -> Invite:
        item = RegistrationInvite(token_hash=token_hash(token), name=name, created_at=now, expires=now + valid_for)
        item.save(condition=RegistrationInvite.pk.does_not_exist())
        return Invite(name=name, created_at=now, expires=now + valid_for, used_at=None)

    def get(self, token: str) -> Invite | None:
        pk, sk = RegistrationInvite.keys_for(token_hash=token_hash(token))
        try:
            item = RegistrationInvite.get(pk, sk, consistent_read=True)
        except RegistrationInvite.DoesNotExist:
            return None
        if item.expires is None:
            return None
        return Invite(name=item.name, created_at=item.created_at, expires=item.expires, used_at=item.used_at)

    def claim(self, token: str, now: datetime, used_by: str) -> bool:
        """Mark the invite used, once: False if it is unknown, expired or already used (a racing registration)."""
        pk, sk = RegistrationInvite.keys_for(token_hash=token_hash(token))
        try:
            RegistrationInvite(pk=pk, sk=sk).update(
                actions=[RegistrationInvite.used_at.set(now), RegistrationInvite.used_by.set(used_by[:300])],
                condition=RegistrationInvite.pk.exists()
                & RegistrationInvite.used_at.does_not_exist()
                & (RegistrationInvite.expires > now),
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def release(self, token: str) -> None:
        """Give the invite back after a registration that failed on the LMS's side, so the admin can retry."""
        pk, sk = RegistrationInvite.keys_for(token_hash=token_hash(token))
        try:
            RegistrationInvite(pk=pk, sk=sk).update(
                actions=[RegistrationInvite.used_at.remove(), RegistrationInvite.used_by.remove()],
                condition=RegistrationInvite.pk.exists(),
            )
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise
