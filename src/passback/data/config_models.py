"""The config table: LMS platforms and consumers, the tool's public keys, the activity catalog.

Small, read-mostly, written by operators through the CLI. The `by_kind` index lists each kind
of item for the CLI without a Scan.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from passback.data.base import TableItem


class ByKindIndex(GlobalSecondaryIndex["ConfigItem"]):
    class Meta:
        index_name = "by_kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class ConfigItem(TableItem):
    kind = DiscriminatorAttribute()

    class Meta:
        table_name = "passback-config"

    by_kind = ByKindIndex()


class Platform(ConfigItem, discriminator="platform"):
    """An LTI 1.3 registration: one issuer and one client id (a Canvas developer key, say)."""

    issuer = UnicodeAttribute()
    client_id = UnicodeAttribute()
    platform_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    login_url = UnicodeAttribute()
    token_url = UnicodeAttribute()
    jwks_url = UnicodeAttribute()
    token_audience = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # How it was registered: "dynamic" (LTI Dynamic Registration) or absent (`platforms add`).
    registered_by = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    # The LTI 1.1 consumer key this platform was before it moved to 1.3 (docs/migration.md).
    legacy_consumer_key = UnicodeAttribute(null=True)
    # Who tied it: "claim" (a verified lti1p1 claim) or "operator" (`link-legacy`; absent on older items).
    legacy_tied_by = UnicodeAttribute(null=True)
    # The platform refused a line item PUT (a label change): "<HTTP status> <its message>", and when.
    # Passback sends no more label PUTs to it until that is older than a month (services/column_labels.py).
    line_item_put_refused = UnicodeAttribute(null=True)
    line_item_put_refused_at = UTCDateTimeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"ISS#{kw['issuer']}", f"CLIENT#{kw['client_id']}"


class Deployment(ConfigItem, discriminator="deployment"):
    """One deployment of a registration (an LMS can install the same key in several places)."""

    issuer = UnicodeAttribute()
    client_id = UnicodeAttribute()
    deployment_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"ISS#{kw['issuer']}", f"CLIENT#{kw['client_id']}#DEP#{kw['deployment_id']}"


class Consumer(ConfigItem, discriminator="consumer"):
    """An LTI 1.1 consumer. Its shared secret lives in Secrets Manager, never in this table."""

    consumer_key = UnicodeAttribute()
    platform_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # After `consumers add --rotate-secret`: the previous secret is also accepted until then.
    rotated_at = UTCDateTimeAttribute(null=True)
    previous_valid_until = UTCDateTimeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"CONSUMER#{kw['consumer_key']}", "#"


class ToolKey(ConfigItem, discriminator="toolkey"):
    """The public half of one of the tool's signing keys, as served in the JWKS.

    The private half is in Secrets Manager. `status` is `active` (signs) or `previous`
    (kept in the JWKS after a rotation until retired, so tokens in flight still verify).
    """

    kid = UnicodeAttribute()
    public_jwk = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return "TOOLKEY", f"KID#{kw['kid']}"


class Activity(ConfigItem, discriminator="activity"):
    """A product's catalog entry: a gradable unit (a quiz, a reading)."""

    activity_id = UnicodeAttribute()
    title = UnicodeAttribute()
    min_questions = NumberAttribute(default=1)
    product_url = UnicodeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    updated_at = UTCDateTimeAttribute()
    # The title whose LMS column labels were queued (services/column_labels.py): a title other than this
    # one still owes its courses a relabel, even if the put that changed it crashed before queuing.
    labels_for = UnicodeAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"ACT#{kw['activity_id']}", "#"


CONFIG_MODELS: tuple[type[ConfigItem], ...] = (Platform, Deployment, Consumer, ToolKey, Activity)
