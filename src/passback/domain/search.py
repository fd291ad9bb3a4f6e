"""Finding courses and learners by what support staff know: a word of a title or name, an LMS
context id, an email. Words become index tokens; a search matches when each of its words starts a
token (so `bio 10` finds "Biology 101"). Plain functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"[0-9a-z]+")
# Index partitions are keyed by a token's first letters; searching needs at least this many.
MIN_SEARCH_LENGTH = 2
MAX_TOKENS = 24


def normalise(text: str) -> str:
    """Lower case without accents: 'Éva' and 'eva' are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


def tokens(*texts: str | None, whole: Iterable[str | None] = ()) -> list[str]:
    """The index tokens of some texts: each word, plus each of `whole` as one token (an LMS
    context id such as 'bio-101:fall', an email), in order, without duplicates."""
    found: list[str] = []
    for text in texts:
        found.extend(w for w in words(text or "") if len(w) >= MIN_SEARCH_LENGTH)
    for value in whole:
        if value and value.strip():
            found.append(normalise(value.strip()))
    unique = list(dict.fromkeys(found))
    return unique[:MAX_TOKENS]


def lookups(query: str) -> list[str]:
    """What to look up for a query: the whole of it when it is one word with punctuation (a context
    id, an email), and its longest word (the most selective); each at least two characters."""
    whole = normalise(query.strip())
    found = [whole] if whole and " " not in whole and not _WORD.fullmatch(whole) else []
    longest = max(words(query), key=len, default="")
    found.append(longest)
    return [w for w in dict.fromkeys(found) if len(w) >= MIN_SEARCH_LENGTH]


def matches(query: str, candidate_tokens: Iterable[str]) -> bool:
    """Each word of the query starts one of the candidate's tokens (or the whole query equals one)."""
    known = list(candidate_tokens)
    whole = normalise(query.strip())
    if any(t.startswith(whole) for t in known):
        return True
    wanted = words(query)
    return bool(wanted) and all(any(t.startswith(w) for t in known) for w in wanted)
