"""The search index of courses and learners: token entries in the gradebook table, read by Query.

Written when a course or learner is created or renamed (conditional puts: an entry already there
is left alone); stale entries after a rename are harmless, as every hit is checked against the
target's current tokens before it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import PutError

from passback.data.errors import is_conditional_failure
from passback.data.gradebook_models import SearchEntry
from passback.data.tables import ensure_bound
from passback.domain.search import lookups, matches

COURSES = "C"
LEARNERS = "U"


class SearchIndex:
    def __init__(self) -> None:
        ensure_bound()

    def add(self, scope: str, target_id: str, tokens: Iterable[str]) -> None:
        every = set(tokens)
        for token in every:
            pk, sk = SearchEntry.keys_for(scope=scope, token=token, target_id=target_id)
            entry = SearchEntry(pk=pk, sk=sk, target_id=target_id, tokens=every)
            try:
                entry.save(condition=SearchEntry.pk.does_not_exist())
            except PutError as error:
                if not is_conditional_failure(error):
                    raise

    def find(self, scope: str, query: str, limit: int = 50) -> list[str]:
        """Target ids whose tokens match the query, at most `limit` (a Query per looked-up word)."""
        found: dict[str, None] = {}
        for word in lookups(query):
            condition = SearchEntry.sk.startswith(word)
            for entry in SearchEntry.query(f"FIND#{scope}#{word[:2]}", condition, limit=limit * 4):
                if isinstance(entry, SearchEntry) and matches(query, entry.tokens or ()):
                    found[str(entry.target_id)] = None
                if len(found) >= limit:
                    return list(found)
        return list(found)
