"""Repositories for products, their keys, activity ownership, message statuses, rate windows and grants.

Every read on a request path is a GetItem; every write a conditional write. Listing products
(the CLI, and the launch handoff's homepage grant) is a Query on the config table's `by_kind` index.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import LearnerEmail
from passback.data.product_models import (
    ActivityOwner,
    LearnerGrant,
    MessageStatus,
    Product,
    ProductKey,
    RateWindow,
)
from passback.data.tables import ensure_bound

STATUS_LIFETIME = timedelta(days=14)  # as long as SQS keeps a message
_PRODUCTS_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class ProductRecord:
    product_id: str
    name: str
    platforms: tuple[str, ...]
    rate_per_second: int
    created_at: datetime


@dataclass(frozen=True)
class StatusRecord:
    product_id: str
    message_id: str
    status: str
    reason: str | None
    detail: str | None
    accepted_at: datetime
    updated_at: datetime


def _product(item: Product) -> ProductRecord:
    return ProductRecord(
        product_id=str(item.product_id),
        name=str(item.name),
        platforms=tuple(str(p) for p in item.platforms or ()),
        rate_per_second=int(item.rate_per_second or 0),
        created_at=item.created_at,
    )


class ProductRepository:
    def __init__(self) -> None:
        ensure_bound()
        self._all: tuple[float, list[ProductRecord]] | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- products
    def get(self, product_id: str) -> ProductRecord | None:
        pk, sk = Product.keys_for(product_id=product_id)
        try:
            item = Product.get(pk, sk)
        except Product.DoesNotExist:
            return None
        return _product(item) if isinstance(item, Product) else None

    def create(self, record: ProductRecord) -> bool:
        item = Product(
            product_id=record.product_id,
            name=record.name,
            platforms=list(record.platforms) or None,
            rate_per_second=record.rate_per_second,
            created_at=record.created_at,
        )
        try:
            item.save(condition=Product.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def list_all(self) -> list[ProductRecord]:
        return [_product(i) for i in Product.by_kind.query("product") if isinstance(i, Product)]

    def deployed_on(self, platform_id: str) -> list[str]:
        """The products deployed on a platform (cached briefly: the launch handoff asks on every launch)."""
        with self._lock:
            cached = self._all
        if cached is None or time.monotonic() - cached[0] > _PRODUCTS_CACHE_SECONDS:
            cached = (time.monotonic(), self.list_all())
            with self._lock:
                self._all = cached
        return [p.product_id for p in cached[1] if platform_id in p.platforms]

    def delete(self, product_id: str) -> bool:
        """The product and every credential of it: its tokens stop working at once."""
        from passback.data.config_models import ConfigItem

        pk, _ = Product.keys_for(product_id=product_id)
        found = False
        for item in ConfigItem.query(pk):
            item.delete()
            found = True
        return found

    # ---------------------------------------------------------------- credentials
    def add_key(self, product_id: str, jwk: dict[str, Any], now: datetime) -> None:
        ProductKey(product_id=product_id, kid=str(jwk["kid"]), public_jwk=json.dumps(jwk), created_at=now).save(
            condition=ProductKey.pk.does_not_exist()
        )

    def key(self, product_id: str, kid: str) -> dict[str, Any] | None:
        """A live credential's public JWK (None once revoked). Not cached: a revocation counts at once."""
        pk, sk = ProductKey.keys_for(product_id=product_id, kid=kid)
        try:
            item = ProductKey.get(pk, sk)
        except ProductKey.DoesNotExist:
            return None
        return dict(json.loads(str(item.public_jwk))) if isinstance(item, ProductKey) else None

    def keys(self, product_id: str) -> list[tuple[str, datetime]]:
        pk, _ = Product.keys_for(product_id=product_id)
        found = ProductKey.query(pk, ProductKey.sk.startswith("KEY#"))
        return sorted(((str(i.kid), i.created_at) for i in found if isinstance(i, ProductKey)), key=lambda k: k[1])

    def revoke_key(self, product_id: str, kid: str) -> bool:
        pk, sk = ProductKey.keys_for(product_id=product_id, kid=kid)
        try:
            ProductKey.get(pk, sk).delete()
        except ProductKey.DoesNotExist:
            return False
        return True

    # ---------------------------------------------------------------- activities
    def activity_owner(self, activity_id: str) -> str | None:
        pk, sk = ActivityOwner.keys_for(activity_id=activity_id)
        try:
            return str(ActivityOwner.get(pk, sk).product_id)
        except ActivityOwner.DoesNotExist:
            return None

    def claim_activity(self, activity_id: str, product_id: str, now: datetime) -> str:
        """Make the product the activity's owner unless another is; returns the owner."""
        item = ActivityOwner(activity_id=activity_id, product_id=product_id, claimed_at=now)
        try:
            item.save(condition=ActivityOwner.pk.does_not_exist())
        except PutError as error:
            if not is_conditional_failure(error):
                raise
            return self.activity_owner(activity_id) or product_id
        return product_id

    # ---------------------------------------------------------------- learners
    def email_owner(self, email: str) -> tuple[str, str | None] | None:
        """The learner owning an address and the product that vouched for it, if any learner does."""
        pk, sk = LearnerEmail.keys_for(email=email.strip().lower())
        try:
            item = LearnerEmail.get(pk, sk)
        except LearnerEmail.DoesNotExist:
            return None
        return str(item.learner_id), (str(item.product_id) if item.product_id else None)

    def grant(self, product_id: str, learner_id: str, now: datetime) -> None:
        item = LearnerGrant(product_id=product_id, learner_id=learner_id, granted_at=now)
        try:
            item.save(condition=LearnerGrant.pk.does_not_exist())
        except PutError as error:
            if not is_conditional_failure(error):
                raise

    def granted(self, product_id: str, learner_id: str) -> bool:
        pk, sk = LearnerGrant.keys_for(product_id=product_id, learner_id=learner_id)
        try:
            LearnerGrant.get(pk, sk)
        except LearnerGrant.DoesNotExist:
            return False
        return True


class RateWindows:
    """A fixed one-second window per product, counted with a conditional update (no read first)."""

    def __init__(self) -> None:
        ensure_bound()

    def take(self, product_id: str, count: int, limit: int, now: datetime) -> bool:
        window = int(now.timestamp())
        item = RateWindow(pk=f"RATE#{product_id}#{window}", sk="#")
        try:
            item.update(
                actions=[RateWindow.used.add(count), RateWindow.expires.set(now + timedelta(minutes=2))],
                # An empty window takes any request (a batch larger than the limit is not starved).
                condition=RateWindow.used.does_not_exist() | (RateWindow.used <= limit - count),
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True


_OPEN = ("accepted", "dead-lettered")
_SETTLES_FROM = {"applied": (*_OPEN, "unchanged"), "unchanged": _OPEN, "dead-lettered": _OPEN}


class MessageStatuses:
    """Per product and message id: what became of a message posted to the API."""

    def __init__(self) -> None:
        ensure_bound()

    def accept(self, product_id: str, message_id: str, now: datetime) -> bool:
        """Recorded before the message is queued, so the score function always finds it.

        False: a status exists already (a repost), and is kept as it is: its copy may be in the queue.
        """
        item = MessageStatus(
            product_id=product_id,
            message_id=message_id,
            status="accepted",
            accepted_at=now,
            updated_at=now,
            expires=now + STATUS_LIFETIME,
        )
        try:
            # A repost keeps the status it has (the apply is idempotent too).
            item.save(condition=MessageStatus.pk.does_not_exist())
        except PutError as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def settle(
        self,
        product_id: str,
        message_id: str,
        status: str,
        now: datetime,
        reason: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """accepted (or dead-lettered, then redriven) -> applied | unchanged | dead-lettered; once.

        Also unchanged -> applied: two copies of one message (SQS redelivers, clients repost) race, and
        the copy that applied may settle after the duplicate settled "unchanged".
        """
        pk, sk = MessageStatus.keys_for(product_id=product_id, message_id=message_id)
        actions: list[Any] = [MessageStatus.status.set(status), MessageStatus.updated_at.set(now)]
        actions.append(MessageStatus.reason.set(reason) if reason else MessageStatus.reason.remove())
        actions.append(MessageStatus.detail.set(detail[:1000]) if detail else MessageStatus.detail.remove())
        try:
            MessageStatus(pk=pk, sk=sk).update(
                actions=actions,
                condition=MessageStatus.status.is_in(*_SETTLES_FROM[status]),
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def get(self, product_id: str, message_id: str) -> StatusRecord | None:
        pk, sk = MessageStatus.keys_for(product_id=product_id, message_id=message_id)
        try:
            item = MessageStatus.get(pk, sk)
        except MessageStatus.DoesNotExist:
            return None
        return StatusRecord(
            product_id=str(item.product_id),
            message_id=str(item.message_id),
            status=str(item.status),
            reason=item.reason,
            detail=item.detail,
            accepted_at=item.accepted_at,
            updated_at=item.updated_at,
        )

    def forget(self, product_id: str, message_id: str) -> None:
        """Undo an accept whose message never reached the queue."""
        pk, sk = MessageStatus.keys_for(product_id=product_id, message_id=message_id)
        try:
            MessageStatus(pk=pk, sk=sk).delete(condition=MessageStatus.status == "accepted")
        except Exception as error:
            if not is_conditional_failure(error):
                raise
