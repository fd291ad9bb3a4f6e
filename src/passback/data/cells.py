"""Sync cells: one per learner and link, recording what the LMS has and why not."""

from __future__ import annotations

import zlib
from datetime import datetime

from pynamodb.exceptions import PutError

from passback.data.base import due_stamp
from passback.data.errors import Conflict, is_conditional_failure
from passback.data.gradebook_models import Cell, GradebookItem
from passback.data.tables import ensure_bound
from passback.domain.delivery import CellStatus
from passback.domain.records import Attempt, CellRecord

RETRY_SHARDS = 8
HISTORY_KEPT = 8


def retry_shard(learner_id: str, link_id: str) -> int:
    return zlib.crc32(f"{learner_id}#{link_id}".encode()) % RETRY_SHARDS


def cell_record(item: Cell) -> CellRecord:
    return CellRecord(
        course_id=item.course_id,
        learner_id=item.learner_id,
        link_id=item.link_id,
        status=item.status,
        message=item.message,
        owed_value=item.owed_value,
        sent_value=item.sent_value,
        sent_at=item.sent_at,
        sent_ts=None if item.sent_ts is None else int(item.sent_ts),
        failed_value=item.failed_value,
        attempts=int(item.attempts or 0),
        first_failure_at=item.first_failure_at,
        next_attempt_at=item.next_attempt_at,
        sourcedid=item.sourcedid,
        outcome_service_url=item.outcome_service_url,
        history=tuple(Attempt.from_list(raw) for raw in (item.history or [])),
        updated_at=item.updated_at,
        version=item.version,
        done_claim=item.done_claim,
        mark_for=item.mark_for,
        mark_until=item.mark_until,
    )


class CellRepository:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, course_id: str, learner_id: str, link_id: str, *, consistent: bool = False) -> CellRecord | None:
        pk, sk = Cell.keys_for(course_id=course_id, learner_id=learner_id, link_id=link_id)
        try:
            return cell_record(Cell.get(pk, sk, consistent_read=consistent))
        except Cell.DoesNotExist:
            return None

    def for_learner(self, course_id: str, learner_id: str, *, consistent: bool = True) -> dict[str, CellRecord]:
        """Every cell of one learner in one course (one Query).

        Consistent by default: a sender must see every claim written before it looks
        (docs/architecture.md, "A cell's states").
        """
        return {
            item.link_id: cell_record(item)
            for item in Cell.query(f"C#{course_id}", Cell.sk.startswith(f"X#{learner_id}#"), consistent_read=consistent)
            if isinstance(item, Cell)
        }

    def for_learners(
        self, course_id: str, learner_ids: list[str], *, consistent: bool = True
    ) -> dict[str, dict[str, CellRecord]]:
        """Every cell of these learners in one course, per learner, in one paginated Query.

        Cells sort as `X#<learner>#<link>`, so the cells of a page of enrollments (which sort as
        `E#<learner>`, in the same learner order) are one contiguous range; cells of learners in the
        range but not asked for are dropped.
        """
        found: dict[str, dict[str, CellRecord]] = {learner_id: {} for learner_id in learner_ids}
        if not learner_ids:
            return found
        low, high = min(learner_ids), max(learner_ids)
        # "$" sorts just after "#", so the range ends after every `X#<high>#...` key.
        for item in Cell.query(
            f"C#{course_id}", Cell.sk.between(f"X#{low}#", f"X#{high}$"), consistent_read=consistent
        ):
            if isinstance(item, Cell) and item.learner_id in found:
                found[item.learner_id][item.link_id] = cell_record(item)
        return found

    def save(self, cell: CellRecord) -> CellRecord:
        """Write the cell if nobody wrote it since it was read; raises Conflict otherwise.

        The sweep finds a cell through the sparse `due` index when its retry is due, and when a
        sender marked it behind a claim (due when the claim's lease ends): if the claim's holder
        died, the sweep takes the cell over. A claim nobody waits on is not indexed (that would
        cost two index writes per send): its holder's input (an SQS message) is delivered again
        when the holder dies, and the redelivery takes the expired claim over.
        """
        due_at: datetime | None = None
        if cell.status == CellStatus.RETRYING and cell.next_attempt_at is not None:
            due_at = cell.next_attempt_at
        if cell.mark_for is not None and cell.mark_until is not None:
            due_at = cell.mark_until if due_at is None else min(due_at, cell.mark_until)
        item = Cell(
            course_id=cell.course_id,
            learner_id=cell.learner_id,
            link_id=cell.link_id,
            status=cell.status,
            message=cell.message,
            owed_value=cell.owed_value,
            sent_value=cell.sent_value,
            sent_at=cell.sent_at,
            sent_ts=cell.sent_ts,
            failed_value=cell.failed_value,
            attempts=cell.attempts,
            first_failure_at=cell.first_failure_at,
            next_attempt_at=cell.next_attempt_at,
            sourcedid=cell.sourcedid,
            outcome_service_url=cell.outcome_service_url,
            history=[a.to_list() for a in cell.history[-HISTORY_KEPT:]],
            updated_at=cell.updated_at,
            done_claim=cell.done_claim,
            mark_for=cell.mark_for,
            mark_until=cell.mark_until if cell.mark_for is not None else None,
            due_pk=f"RETRY#{retry_shard(cell.learner_id, cell.link_id)}" if due_at else None,
            due_sk=f"{due_stamp(due_at)}#{cell.course_id}" if due_at else None,
        )
        if cell.version is not None:  # a new cell has no version; save() then requires it to be absent
            item.version = cell.version
        try:
            item.save()
        except PutError as error:
            if is_conditional_failure(error):
                raise Conflict(f"cell {cell.course_id}/{cell.learner_id}/{cell.link_id} changed") from error
            raise
        return cell_record(item)

    def delete(self, course_id: str, learner_id: str, link_id: str) -> None:
        pk, sk = Cell.keys_for(course_id=course_id, learner_id=learner_id, link_id=link_id)
        try:
            Cell.get(pk, sk, consistent_read=True).delete()
        except Cell.DoesNotExist:
            return

    def due(self, shard: int, now: datetime, limit: int) -> list[tuple[str, str, str | None, str]]:
        """(course, learner, link, due_sk) of cells whose retry is due, through the sparse `due`
        index; link None for an enrollment whose indexed claim's lease ended (sync all its cells)."""
        found: list[tuple[str, str, str | None, str]] = []
        for item in GradebookItem.due.query(
            f"RETRY#{shard}", GradebookItem.due_sk <= f"{due_stamp(now)}#~", limit=limit
        ):
            course_id, sk, due_sk = str(item.pk)[2:], str(item.sk), str(item.due_sk)
            if sk.startswith("E#"):
                found.append((course_id, sk[2:], None, due_sk))
                continue
            _, learner_id, link_id = sk.split("#", 2)
            found.append((course_id, learner_id, link_id, due_sk))
        return found
