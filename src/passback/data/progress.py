"""Learners' progress per activity (rule 3), stored as the domain's order-independent tallies."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import Progress as ProgressItem
from passback.data.tables import ensure_bound
from passback.domain.progress import Progress, Tally


def _tally(ms: Any, mid: Any, score: Any, answered: Any) -> Tally:
    key = None if ms is None or mid is None else (int(ms), str(mid))
    return Tally(latest_key=key, latest_score=None if score is None else float(score), max_answered=int(answered or 0))


def _progress(item: ProgressItem) -> Progress:
    cuts_raw = item.cuts.as_dict() if hasattr(item.cuts, "as_dict") else dict(item.cuts or {})
    return Progress(
        learner_id=item.learner_id,
        activity_id=item.activity_id,
        overall=_tally(item.latest_us, item.latest_mid, item.latest_score, item.max_answered),
        cuts={course: _tally(*[*list(raw), None, None, None, None][:4]) for course, raw in cuts_raw.items()},
        version=int(item.version or 0),
    )


def _cut(tally: Tally) -> list[Any]:
    ms, mid = tally.latest_key if tally.latest_key else (None, None)
    return [ms, mid, tally.latest_score, tally.max_answered]


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
        ms, mid = progress.overall.latest_key if progress.overall.latest_key else (None, None)
        item = ProgressItem(
            learner_id=progress.learner_id,
            activity_id=progress.activity_id,
            latest_us=ms,
            latest_mid=mid,
            latest_score=progress.overall.latest_score,
            max_answered=progress.overall.max_answered,
            cuts={course: _cut(t) for course, t in progress.cuts.items()},
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
