"""Products as principals (issue 21): who they are, their credentials, what they own, what they sent.

Config table (written by operators through `passback products`, read by the API function):
a product, its public keys (one per credential; two live during a rotation), and which product
owns an activity. State table: each accepted message's status (for `GET /api/v1/messages/{id}`)
and the per-product rate windows. Gradebook table: the learner ids issued to a product at a
launch handoff (the product may report on exactly those).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from passback.data.config_models import ConfigItem
from passback.data.gradebook_models import GradebookItem
from passback.data.state_models import StateItem


class Product(ConfigItem, discriminator="product"):
    """A product (a quiz or reading app) that reports scores through the HTTPS API."""

    product_id = UnicodeAttribute()
    name = UnicodeAttribute()
    # The platforms (platform ids) it is deployed on: LMS identities it may name.
    platforms = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    rate_per_second = NumberAttribute(default=100)
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"PRODUCT#{kw['product_id']}", "#"


class ProductKey(ConfigItem, discriminator="product_key"):
    """One live credential: the public half of a key the product signs its client assertions with."""

    product_id = UnicodeAttribute()
    kid = UnicodeAttribute()
    public_jwk = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"PRODUCT#{kw['product_id']}", f"KEY#{kw['kid']}"


class ActivityOwner(ConfigItem, discriminator="activity_owner"):
    """The product that first published an activity through the API (or that an operator named)."""

    activity_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        # Beside the activity itself, in the ACT# partition the score function may already write.
        return f"ACT#{kw['activity_id']}", "OWNER"


class MessageStatus(StateItem, discriminator="message_status"):
    """What became of a message a product posted: accepted, applied, unchanged or dead-lettered."""

    product_id = UnicodeAttribute()
    message_id = UnicodeAttribute()
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    accepted_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"MSG#{kw['product_id']}#{kw['message_id']}", "#"


class RateWindow(StateItem, discriminator="rate_window"):
    """Messages a product posted in one second (the rate limit's fixed window)."""

    used = NumberAttribute(null=True)

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"RATE#{kw['product_id']}#{kw['window']}", "#"


class LearnerGrant(GradebookItem, discriminator="learner_grant"):
    """A learner id handed to a product (in a launch handoff): that product may report on it."""

    product_id = UnicodeAttribute()
    learner_id = UnicodeAttribute()
    granted_at = UTCDateTimeAttribute()

    @classmethod
    def keys_for(cls, **kw: Any) -> tuple[str, str]:
        return f"PG#{kw['product_id']}#{kw['learner_id']}", "#"


PRODUCT_CONFIG_MODELS: tuple[type[ConfigItem], ...] = (Product, ProductKey, ActivityOwner)
PRODUCT_STATE_MODELS: tuple[type[StateItem], ...] = (MessageStatus, RateWindow)
PRODUCT_GRADEBOOK_MODELS: tuple[type[GradebookItem], ...] = (LearnerGrant,)
