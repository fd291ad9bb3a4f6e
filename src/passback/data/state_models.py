"""The state table: short-lived items that expire by TTL.

Launch state and nonces (so any Lambda instance can finish a login another started, and a
replayed nonce is refused), cached access tokens and platform key sets (shared by every
instance), and powertools' idempotency records. Nothing here is the only copy of a grade.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from passback.data.base import TableItem


class StateItem(TableItem):
    kind = DiscriminatorAttribute()

    class Meta:
        table_name = "passback-state"

    expires = TTLAttribute(null=True)


class LaunchState(StateItem, discriminator="launch_state"):
    """An OIDC login in progress: the state we sent to the platform and the nonce bound to it."""

    state = UnicodeAttribute()
    nonce = UnicodeAttribute()
    issuer = UnicodeAttribute()
    client_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"STATE#{kw['state']}", "#"


class Nonce(StateItem, discriminator="nonce"):
    """A nonce that has been used: LTI 1.3 id_token nonces and LTI 1.1 OAuth nonces."""

    scope = UnicodeAttribute()
    nonce = UnicodeAttribute()
    used_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"NONCE#{kw['scope']}#{kw['nonce']}", "#"


class AccessToken(StateItem, discriminator="access_token"):
    """An LMS access token, shared by every Lambda instance until shortly before it expires."""

    cache_key = UnicodeAttribute()
    access_token = UnicodeAttribute()
    expires_at = NumberAttribute()
    scope = UnicodeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"TOKEN#{kw['cache_key']}", "#"


class KeySetCache(StateItem, discriminator="key_set"):
    """A platform's JWKS, so a cold instance need not fetch it again."""

    url_hash = UnicodeAttribute()
    url = UnicodeAttribute()
    keys_json = UnicodeAttribute()
    fetched_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"JWKS#{kw['url_hash']}", "#"


class RegistrationInvite(StateItem, discriminator="registration_invite"):
    """A one-time LTI Dynamic Registration invite (`passback platforms invite`), by the hash of its token.

    The token itself is never stored: it is in the registration URL the operator hands the LMS admin.
    `used_at` is set by a conditional update when a registration starts, so an invite works once.
    """

    token_hash = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    used_at = UTCDateTimeAttribute(null=True)
    used_by = UnicodeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"INVITE#{kw['token_hash']}", "#"


STATE_MODELS: tuple[type[StateItem], ...] = (LaunchState, Nonce, AccessToken, KeySetCache, RegistrationInvite)
