"""Learners, their LMS identities and their email addresses."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import Identity, Learner, LearnerEmail
from passback.data.search import LEARNERS, SearchIndex
from passback.data.tables import ensure_bound
from passback.domain.search import tokens
from passback.ids import new_learner_id


class LearnerRepository:
    def __init__(self) -> None:
        ensure_bound()

    def by_identity(self, platform_id: str, lms_user_id: str) -> str | None:
        pk, sk = Identity.keys_for(platform_id=platform_id, lms_user_id=lms_user_id)
        try:
            return str(Identity.get(pk, sk).learner_id)
        except Identity.DoesNotExist:
            return None

    def exists(self, learner_id: str) -> bool:
        pk, sk = Learner.keys_for(learner_id=learner_id)
        try:
            Learner.get(pk, sk)
        except Learner.DoesNotExist:
            return False
        return True

    def get(self, learner_id: str) -> Learner | None:
        pk, sk = Learner.keys_for(learner_id=learner_id)
        try:
            return Learner.get(pk, sk)
        except Learner.DoesNotExist:
            return None

    def create(self, *, email: str | None, name: str | None, now: datetime) -> str:
        learner_id = new_learner_id()
        Learner(learner_id=learner_id, email=email, name=name, created_at=now).save(
            condition=Learner.pk.does_not_exist()
        )
        if name or email:
            SearchIndex().add(LEARNERS, learner_id, tokens(name, whole=[email]))
        return learner_id

    def link_identity(
        self, *, platform_id: str, lms_user_id: str, learner_id: str, email: str | None, now: datetime
    ) -> str:
        """Bind an LMS identity to a learner; if another launch bound it first, theirs wins."""
        item = Identity(
            platform_id=platform_id,
            lms_user_id=lms_user_id,
            learner_id=learner_id,
            email=email,
            created_at=now,
        )
        try:
            item.save(condition=Identity.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                existing = self.by_identity(platform_id, lms_user_id)
                if existing is not None:
                    return existing
            raise
        return learner_id

    def rebind_identity(self, *, platform_id: str, lms_user_id: str, learner_id: str) -> None:
        """Point an identity at another learner (an account merge)."""
        pk, sk = Identity.keys_for(platform_id=platform_id, lms_user_id=lms_user_id)
        Identity(pk=pk, sk=sk).update(actions=[Identity.learner_id.set(learner_id)], condition=Identity.pk.exists())

    def by_email(self, email: str) -> str | None:
        pk, sk = LearnerEmail.keys_for(email=email.strip().lower())
        try:
            return str(LearnerEmail.get(pk, sk).learner_id)
        except LearnerEmail.DoesNotExist:
            return None

    def email_claim(self, email: str) -> tuple[str, str | None] | None:
        """The learner owning an address and the product that vouched for it (None: the score queue)."""
        pk, sk = LearnerEmail.keys_for(email=email.strip().lower())
        try:
            item = LearnerEmail.get(pk, sk)
        except LearnerEmail.DoesNotExist:
            return None
        return str(item.learner_id), (str(item.product_id) if item.product_id else None)

    def claim_email(self, email: str, learner_id: str, product_id: str | None = None) -> bool:
        """Record that this learner owns the email (a product vouched for it); False if someone already does."""
        item = LearnerEmail(email=email.strip().lower(), learner_id=learner_id, product_id=product_id)
        try:
            item.save(condition=LearnerEmail.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def mark_merged(self, learner_id: str, into: str) -> None:
        pk, sk = Learner.keys_for(learner_id=learner_id)
        Learner(pk=pk, sk=sk).update(
            actions=[Learner.merged_into.set(into), Learner.pending_merge.remove()], condition=Learner.pk.exists()
        )

    def set_pending_merge(self, learner_id: str, request_id: str | None) -> None:
        pk, sk = Learner.keys_for(learner_id=learner_id)
        action = Learner.pending_merge.remove() if request_id is None else Learner.pending_merge.set(request_id)
        Learner(pk=pk, sk=sk).update(actions=[action], condition=Learner.pk.exists())
