"""Learners' progress per activity (rule 3), stored as the domain's timeline of reports.

The timeline is one binary attribute, because it is rewritten with every score message and its
size is what a message costs (docs/performance.md). Format 1: a version byte, then per report,
oldest first: the time as a zigzag varint of microseconds since the previous report (the first
since the epoch), the 6-byte message tag, the score as a varint whose low two bits say how (0: a
whole percentage, zigzag, above them; 1: zigzag of score x 10,000 when that is exact; 2: an 8-byte
IEEE double follows), and answered as a varint. A report a few minutes after the previous one
takes about 15 bytes, half of the same fields as a DynamoDB list.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from pynamodb.exceptions import PutError

from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import Progress as ProgressItem
from passback.data.tables import ensure_bound
from passback.domain.progress import Progress, Step, Tally, message_tag

_FORMAT = 1


def _varint(value: int, out: bytearray) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def encode_timeline(steps: tuple[Step, ...]) -> bytes:
    out = bytearray([_FORMAT])
    previous = 0
    for step in steps:
        us, tag = step.key
        _varint(_zigzag(us - previous), out)
        previous = us
        out += base64.urlsafe_b64decode(tag)
        scaled = round(step.score * 10_000)
        if abs(scaled) < 2**52 and scaled % 10_000 == 0 and scaled // 10_000 == step.score:
            _varint(_zigzag(scaled // 10_000) << 2, out)  # a whole percentage: the common case
        elif abs(scaled) < 2**52 and scaled / 10_000 == step.score:
            _varint(_zigzag(scaled) << 2 | 1, out)
        else:
            _varint(2, out)
            out += struct.pack(">d", step.score)
        _varint(max(0, step.answered), out)
    return bytes(out)


def decode_timeline(data: bytes) -> tuple[Step, ...]:
    if not data:
        return ()
    if data[0] != _FORMAT:
        raise ValueError(f"unknown progress timeline format {data[0]}")
    steps: list[Step] = []
    position, previous = 1, 0

    def varint() -> int:
        nonlocal position
        value = shift = 0
        while True:
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while position < len(data):
        us = previous + _unzigzag(varint())
        previous = us
        tag = base64.urlsafe_b64encode(data[position : position + 6]).decode("ascii")
        position += 6
        head = varint()
        if head & 3 == 0:
            score = float(_unzigzag(head >> 2))
        elif head & 3 == 1:
            score = _unzigzag(head >> 2) / 10_000
        else:
            (score,) = struct.unpack(">d", data[position : position + 8])
            position += 8
        steps.append(Step(key=(us, tag), score=score, answered=varint()))
    return tuple(steps)


def _floor(raw: Any) -> Tally:
    if not raw:
        return Tally()
    us, tag, score, answered = [*list(raw), None, None, None, None][:4]
    key = None if us is None else (int(us), str(tag))
    return Tally(latest_key=key, latest_score=None if score is None else float(score), max_answered=int(answered or 0))


def _legacy_steps(item: ProgressItem) -> tuple[Step, ...]:
    """An item from before the timeline: its newest report and each course's tally at that course's
    deadline become the timeline's steps (exact at those deadlines and for no deadline)."""
    found: dict[tuple[int, str], Step] = {}

    def add(us: Any, mid: Any, score: Any, answered: Any) -> None:
        if us is None or mid is None or score is None:
            return
        step = Step(key=(int(us), message_tag(str(mid))), score=float(score), answered=int(answered or 0))
        found[step.key] = step

    add(item.latest_us, item.latest_mid, item.latest_score, item.max_answered)
    cuts = item.cuts.as_dict() if hasattr(item.cuts, "as_dict") else dict(item.cuts or {})
    for raw in cuts.values():
        add(*[*list(raw), None, None, None, None][:4])
    return tuple(sorted(found.values()))


def _progress(item: ProgressItem) -> Progress:
    history = _legacy_steps(item) if item.timeline is None else decode_timeline(bytes(item.timeline))
    return Progress(
        learner_id=item.learner_id,
        activity_id=item.activity_id,
        history=history,
        floor=_floor(item.floor),
        version=int(item.version or 0),
    )


class ProgressRepository:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, learner_id: str, activity_id: str, *, consistent: bool = False) -> Progress:
        pk, sk = ProgressItem.keys_for(learner_id=learner_id, activity_id=activity_id)
        try:
            return _progress(ProgressItem.get(pk, sk, consistent_read=consistent))
        except ProgressItem.DoesNotExist:
            return Progress(learner_id=learner_id, activity_id=activity_id)

    def for_learner(self, learner_id: str, *, consistent: bool = False) -> list[Progress]:
        return [
            _progress(item)
            for item in ProgressItem.query(
                f"U#{learner_id}", ProgressItem.sk.startswith("P#"), consistent_read=consistent
            )
            if isinstance(item, ProgressItem)
        ]

    def has_any(self, learner_id: str) -> bool:
        """Whether the learner has any product work (one Query, one item at most)."""
        for _ in ProgressItem.query(f"U#{learner_id}", ProgressItem.sk.startswith("P#"), limit=1):
            return True
        return False

    def save(self, progress: Progress, *, now: Any) -> bool:
        """Write progress if nobody wrote since we read it (version check). False on a lost race."""
        overall = progress.overall
        us, tag = overall.latest_key if overall.latest_key else (None, None)
        floor = progress.floor
        item = ProgressItem(
            learner_id=progress.learner_id,
            activity_id=progress.activity_id,
            latest_us=us,
            latest_mid=tag,
            latest_score=overall.latest_score,
            max_answered=overall.max_answered,
            timeline=encode_timeline(progress.history),
            floor=None
            if floor.latest_key is None and not floor.max_answered
            else [*(floor.latest_key or (None, None)), floor.latest_score, floor.max_answered],
            updated_at=now,
        )
        # VersionAttribute: save() requires the stored version to be the one we read (none for a new item).
        if progress.version > 1:
            item.version = progress.version - 1
        try:
            item.save()
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True
