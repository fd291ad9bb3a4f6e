"""Enrollments (rule 2) and the course grades kept on them."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from passback.data.base import due_stamp, set_or_remove
from passback.data.errors import Conflict, is_conditional_failure
from passback.data.gradebook_models import Enrollment, GradebookItem
from passback.data.tables import ensure_bound
from passback.domain.records import ClaimEntry, EnrollmentRecord, GradeEntry

_MAX_RACES = 8
CLAIM_SHARDS = 8


def claim_due_pk(learner_id: str) -> str:
    """The `due` partition of an indexed claim: beside the cells' retries, so one sweep finds both."""
    return f"RETRY#{zlib.crc32(learner_id.encode()) % CLAIM_SHARDS}"


def _raw_map(attribute: Any) -> Mapping[str, Any]:
    return attribute.as_dict() if hasattr(attribute, "as_dict") else dict(attribute or {})


def enrollment_record(item: Enrollment) -> EnrollmentRecord:
    raw = _raw_map(item.grades)
    return EnrollmentRecord(
        course_id=item.course_id,
        learner_id=item.learner_id,
        role=item.role,
        lms_user_id=item.lms_user_id,
        name=item.name,
        email=item.email,
        grades={int(k): GradeEntry.from_list(v) for k, v in raw.items()},
        merge_pending=bool(item.merge_pending),
        version=item.version,
        lti13_user_id=item.lti13_user_id,
        lms_status=item.lms_status,
        launched=item.launched,
        claims={link_id: ClaimEntry.from_list(entry) for link_id, entry in _raw_map(item.claims).items()},
    )


def _claim_actions(record: EnrollmentRecord, claims: Mapping[str, ClaimEntry]) -> list[Any]:
    """SET the claims' entries; the whole map when the item has none yet (its path does not exist).

    Only ever applied conditionally on the version `record` was read at, so the map set whole
    holds every claim the item had (none).
    """
    if not claims:
        return []
    if not record.claims:
        return [Enrollment.claims.set({link_id: c.to_list() for link_id, c in claims.items()})]
    return [Enrollment.claims[link_id].set(c.to_list()) for link_id, c in claims.items()]  # type: ignore[index]


def replaces(stored: GradeEntry | None, candidate: GradeEntry, *, fresh: bool = False) -> bool:
    """Whether a freshly computed course grade should overwrite the stored one.

    Newer progress wins; for the same progress, a deadline zero is never undone by a
    computation that started before the deadline passed. Two grades computed under different
    deadlines are not ordered by progress: one of them read the course before the deadline
    changed. Only a writer that read the course and the progress afresh after seeing the
    conflict (`fresh`) replaces the stored grade then (services/grades.py, `settle`).
    """
    if stored is None:
        return True
    if stored.deadline is not None and candidate.deadline is not None and stored.deadline != candidate.deadline:
        return fresh and candidate != stored
    if candidate.progress_version != stored.progress_version:
        return candidate.progress_version > stored.progress_version
    if stored.zero and candidate.value is None:
        return False
    return candidate != stored


class EnrollmentRepository:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, course_id: str, learner_id: str, *, consistent: bool = False) -> EnrollmentRecord | None:
        pk, sk = Enrollment.keys_for(course_id=course_id, learner_id=learner_id)
        try:
            item = Enrollment.get(pk, sk, consistent_read=consistent)
        except Enrollment.DoesNotExist:
            return None
        return enrollment_record(item)

    def create_if_absent(self, record: EnrollmentRecord, now: datetime) -> bool:
        item = Enrollment(
            course_id=record.course_id,
            learner_id=record.learner_id,
            role=record.role,
            lms_user_id=record.lms_user_id,
            name=record.name,
            email=record.email,
            grades={str(k): v.to_list() for k, v in record.grades.items()},
            merge_pending=record.merge_pending,
            lms_status=record.lms_status,
            launched=record.launched,
            lti13_user_id=record.lti13_user_id,
            enrolled_at=now,
            gsi1pk=f"U#{record.learner_id}",
            gsi1sk=f"C#{record.course_id}",
        )
        try:
            item.save()  # the VersionAttribute makes this conditional on the item not existing
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def update_identity(
        self,
        course_id: str,
        learner_id: str,
        *,
        role: str,
        lms_user_id: str | None,
        name: str | None,
        email: str | None,
    ) -> None:
        self._update(
            course_id,
            learner_id,
            [
                Enrollment.role.set(role),
                set_or_remove(Enrollment.lms_user_id, lms_user_id),
                set_or_remove(Enrollment.name, name),
                set_or_remove(Enrollment.email, email),
            ],
        )

    def set_lms_status(self, course_id: str, learner_id: str, status: str | None) -> None:
        """What the course roster says of the learner (None: active, the default, not stored)."""
        self._update(course_id, learner_id, [set_or_remove(Enrollment.lms_status, status)])

    def set_lms_status_unless_launched(
        self, course_id: str, learner_id: str, status: str | None, read_started: datetime
    ) -> bool:
        """The roster's word, unless the learner launched since the read started (their launch is newer).

        Conditional on the version read (a launch meanwhile changes it) and on `launched_at`; False when
        the launch wins and nothing is written.
        """
        from passback.domain.roster import roster_word_stands

        pk, sk = Enrollment.keys_for(course_id=course_id, learner_id=learner_id)
        for _ in range(_MAX_RACES):
            try:
                item = Enrollment.get(pk, sk, consistent_read=True)
            except Enrollment.DoesNotExist:
                return False
            if not roster_word_stands(item.launched_at, read_started):
                return False
            try:
                item.update(
                    actions=[set_or_remove(Enrollment.lms_status, status)],
                    condition=Enrollment.launched_at.does_not_exist() | (Enrollment.launched_at < read_started),
                )
            except UpdateError as error:
                if is_conditional_failure(error):
                    continue
                raise
            return True
        raise Conflict(f"enrollment {course_id}/{learner_id} kept changing under us")

    def note_launch(self, course_id: str, learner_id: str, now: datetime) -> None:
        """A launch while the course roster is read: its time, so the read's older word does not overwrite it."""
        self._update(course_id, learner_id, [Enrollment.launched_at.set(now)])

    def mark_launched(self, course_id: str, learner_id: str) -> None:
        """The learner opened a link: no longer "never opened", and evidently in the course."""
        self._update(course_id, learner_id, [Enrollment.launched.remove(), Enrollment.lms_status.remove()])

    def set_lti13_user_id(self, course_id: str, learner_id: str, lti13_user_id: str) -> None:
        """In a course migrated from LTI 1.1: the learner's 1.3 `sub`, which AGS scores name."""
        self._update(course_id, learner_id, [Enrollment.lti13_user_id.set(lti13_user_id)])

    def set_merge_pending(self, course_id: str, learner_id: str, pending: bool) -> None:
        self._update(course_id, learner_id, [Enrollment.merge_pending.set(pending)])

    def delete(self, course_id: str, learner_id: str) -> None:
        """Remove an enrollment (a merged-away learner's: its grades now live on the kept learner's)."""
        pk, sk = Enrollment.keys_for(course_id=course_id, learner_id=learner_id)
        try:
            # Read first: the version attribute makes delete conditional on the version it holds.
            Enrollment.get(pk, sk, consistent_read=True).delete()
        except Enrollment.DoesNotExist:
            return

    def _update(self, course_id: str, learner_id: str, actions: list[Any]) -> None:
        """Update a read item, so the version check (which guards the grades) holds."""
        pk, sk = Enrollment.keys_for(course_id=course_id, learner_id=learner_id)
        for _ in range(_MAX_RACES):
            item = Enrollment.get(pk, sk, consistent_read=True)
            try:
                # A copy each try: PynamoDB appends its version increment to the list it is given, and
                # a retry with two would be refused (a lost race on a launch answering 500).
                item.update(actions=list(actions))
            except UpdateError as error:
                if is_conditional_failure(error):
                    continue
                raise
            return
        raise Conflict(f"enrollment {course_id}/{learner_id} kept changing under us")

    def clear_claim_due(self, course_id: str, learner_id: str, due_sk: str) -> bool:
        """Take the enrollment off `due` once the sweep synced it, unless a later claim moved it."""
        item = Enrollment(course_id=course_id, learner_id=learner_id, role="")
        # Not conditional on the version, but it bumps it (ADD 1: PynamoDB increments a version it is given).
        item.version = 0
        try:
            item.update(
                actions=[Enrollment.due_pk.remove(), Enrollment.due_sk.remove()],
                condition=Enrollment.due_sk == due_sk,
                add_version_condition=False,
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def courses_of(self, learner_id: str) -> list[str]:
        """The courses a learner is enrolled in (gsi1, keys only)."""
        return [
            str(item.gsi1sk)[2:]
            for item in GradebookItem.inverted.query(f"U#{learner_id}", GradebookItem.gsi1sk.startswith("C#"))
        ]

    def take_claim(
        self, record: EnrollmentRecord, link_id: str, claim: ClaimEntry, *, indexed: bool = False
    ) -> EnrollmentRecord:
        """Claim one cell: a conditional update on the version `record` was read at.

        Returns the enrollment after the write (what is owed under the claim, with no further
        read); raises Conflict when the enrollment changed since (a grade, another claim).
        `indexed`: also put the enrollment on the sparse `due` index at the claim's lease end, so
        the sweep syncs the learner then even if the holder died and nothing delivers its input
        again (request paths: a launch's sync, a resync). It costs an index write, and the
        sweep's cleanup later; the score path never pays it.
        """
        item = Enrollment(course_id=record.course_id, learner_id=record.learner_id, role=record.role)
        item.version = record.version
        actions = _claim_actions(record, {link_id: claim})
        if indexed:
            actions += [
                Enrollment.due_pk.set(claim_due_pk(record.learner_id)),
                Enrollment.due_sk.set(f"{due_stamp(claim.until)}#{record.course_id}"),
            ]
        try:
            item.update(actions=actions)
        except UpdateError as error:
            if is_conditional_failure(error):
                raise Conflict(f"enrollment {record.course_id}/{record.learner_id} changed") from error
            raise
        return enrollment_record(item)

    def set_grades(
        self,
        course_id: str,
        learner_id: str,
        entries: Mapping[int, GradeEntry],
        *,
        fresh: bool = False,
        claims: Callable[[EnrollmentRecord], Mapping[str, ClaimEntry]] | None = None,
    ) -> EnrollmentRecord | None:
        """Store course grades that are newer than what is stored; optimistic locking on the item.

        Returns the enrollment after the write (or as it was, when nothing was newer), or None
        when the learner is not enrolled. `fresh`: see `replaces`. `claims`: given the enrollment
        as this write leaves it, the cells to claim in the same write (the score path's send
        protocol: one write for the grade and the claim, docs/architecture.md).
        """
        pk, sk = Enrollment.keys_for(course_id=course_id, learner_id=learner_id)
        for _ in range(_MAX_RACES):
            try:
                item = Enrollment.get(pk, sk)
            except Enrollment.DoesNotExist:
                return None
            record = enrollment_record(item)
            changed = {idx: e for idx, e in entries.items() if replaces(record.grades.get(idx), e, fresh=fresh)}
            wanted = claims(replace(record, grades={**record.grades, **changed})) if claims is not None else {}
            if not changed and not wanted:
                return record
            actions = [Enrollment.grades[str(idx)].set(e.to_list()) for idx, e in changed.items()]  # type: ignore[index]
            actions += _claim_actions(record, wanted)
            try:
                item.update(actions=actions)
            except UpdateError as error:
                if is_conditional_failure(error):
                    continue
                raise
            return enrollment_record(item)
        raise Conflict(f"enrollment {course_id}/{learner_id} kept changing under us")

    def page(
        self, course_id: str, cursor: dict[str, Any] | None, limit: int
    ) -> tuple[list[EnrollmentRecord], dict[str, Any] | None]:
        """One page of a course's enrollments, for fan-out in resumable chunks."""
        result = Enrollment.query(
            f"C#{course_id}",
            Enrollment.sk.startswith("E#"),
            limit=limit,
            last_evaluated_key=cursor,
            page_size=limit,
        )
        records = [enrollment_record(item) for item in result if isinstance(item, Enrollment)]
        return records, result.last_evaluated_key
