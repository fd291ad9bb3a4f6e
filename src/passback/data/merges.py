"""Merge requests (rule 12): created at a launch, decided once by a conditional write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from passback.data.base import due_stamp
from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import GradebookItem, MergeRequest
from passback.data.tables import ensure_bound
from passback.domain.merges import MergeStatus

LIST_PARTITION = "MERGES"
DUE_PARTITION = "MERGE"
# DynamoDB deletes a request this long after it expires: support can still see it meanwhile.
KEPT_AFTER_EXPIRY = timedelta(days=30)


@dataclass(frozen=True)
class MergeRecord:
    request_id: str
    email: str
    existing_learner_id: str
    provisional_learner_id: str
    platform_id: str
    lms_user_id: str
    course_id: str | None
    course_title: str | None
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    completed_at: datetime | None = None


def _record(item: MergeRequest) -> MergeRecord:
    return MergeRecord(
        request_id=item.request_id,
        email=item.email,
        existing_learner_id=item.existing_learner_id,
        provisional_learner_id=item.provisional_learner_id,
        platform_id=item.platform_id,
        lms_user_id=item.lms_user_id,
        course_id=item.course_id,
        course_title=item.course_title,
        status=item.status,
        created_at=item.created_at,
        expires_at=item.expires_at,
        decided_at=item.decided_at,
        completed_at=item.completed_at,
    )


class MergeRepository:
    def __init__(self) -> None:
        ensure_bound()

    def create(self, record: MergeRecord) -> None:
        MergeRequest(
            request_id=record.request_id,
            email=record.email,
            existing_learner_id=record.existing_learner_id,
            provisional_learner_id=record.provisional_learner_id,
            platform_id=record.platform_id,
            lms_user_id=record.lms_user_id,
            course_id=record.course_id,
            course_title=record.course_title,
            status=MergeStatus.PENDING.value,
            created_at=record.created_at,
            expires_at=record.expires_at,
            expires=record.expires_at + KEPT_AFTER_EXPIRY,
            gsi1pk=LIST_PARTITION,
            gsi1sk=f"{due_stamp(record.created_at)}#{record.request_id}",
            due_pk=DUE_PARTITION,
            due_sk=f"{due_stamp(record.expires_at)}#{record.request_id}",
        ).save(condition=MergeRequest.pk.does_not_exist())

    def get(self, request_id: str) -> MergeRecord | None:
        pk, sk = MergeRequest.keys_for(request_id=request_id)
        try:
            return _record(MergeRequest.get(pk, sk, consistent_read=True))
        except MergeRequest.DoesNotExist:
            return None

    def decide(self, request_id: str, status: MergeStatus, now: datetime) -> bool:
        """Move a pending request to `status`; False when it was not pending (already used, or gone).

        The condition is the single-use guarantee: of two clicks on one link, one write succeeds.
        """
        pk, sk = MergeRequest.keys_for(request_id=request_id)
        item = MergeRequest(pk=pk, sk=sk)
        try:
            item.update(
                actions=[
                    MergeRequest.status.set(status.value),
                    MergeRequest.decided_at.set(now),
                    MergeRequest.due_pk.remove(),
                    MergeRequest.due_sk.remove(),
                ],
                condition=MergeRequest.status == MergeStatus.PENDING.value,
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def complete(self, request_id: str, now: datetime) -> None:
        pk, sk = MergeRequest.keys_for(request_id=request_id)
        MergeRequest(pk=pk, sk=sk).update(
            actions=[MergeRequest.completed_at.set(now)], condition=MergeRequest.pk.exists()
        )

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of pending requests whose link has expired (the sparse `due` index, never a scan)."""
        return [
            str(item.pk).split("#", 1)[1]
            for item in GradebookItem.due.query(
                DUE_PARTITION, GradebookItem.due_sk <= f"{due_stamp(now)}#~", limit=limit
            )
        ]

    def listing(self, limit: int = 200) -> list[MergeRecord]:
        """The newest requests, for support (gsi1 keys, then one batch read)."""
        keys = [
            (str(item.pk), str(item.sk))
            for item in GradebookItem.inverted.query(LIST_PARTITION, scan_index_forward=False, limit=limit)
        ]
        found = {
            item.request_id: _record(item) for item in MergeRequest.batch_get(keys) if isinstance(item, MergeRequest)
        }
        return sorted(found.values(), key=lambda r: r.created_at)
