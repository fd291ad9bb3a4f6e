"""Learners' progress per activity (rule 3), stored as the domain's timeline of reports."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import Progress as ProgressItem
from passback.data.tables import ensure_bound
from passback.domain.progress import Progress, Step, Tally, message_tag


def _step(raw: Any) -> Step:
    us, tag, score, answered = [*list(raw), None, None, None, None][:4]
    return Step(key=(int(us), str(tag)), score=float(score or 0), answered=int(answered or 0))


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
    history = _legacy_steps(item) if item.steps is None else tuple(sorted(_step(raw) for raw in item.steps))
    return Progress(
        learner_id=item.learner_id,
        activity_id=item.activity_id,
        history=history,
        floor=_floor(item.floor),
        version=int(item.version or 0),
    )


def _raw(step: Step) -> list[Any]:
    return [step.key[0], step.key[1], step.score, step.answered]


class ProgressRepository:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, learner_id: str, activity_id: str) -> Progress:
        pk, sk = ProgressItem.keys_for(learner_id=learner_id, activity_id=activity_id)
        try:
            return _progress(ProgressItem.get(pk, sk))
        except ProgressItem.DoesNotExist:
            return Progress(learner_id=learner_id, activity_id=activity_id)

    def for_learner(self, learner_id: str) -> list[Progress]:
        return [
            _progress(item)
            for item in ProgressItem.query(f"U#{learner_id}", ProgressItem.sk.startswith("P#"))
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
            steps=[_raw(step) for step in progress.history],
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
