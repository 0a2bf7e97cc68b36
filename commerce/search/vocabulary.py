"""The db backend's vocabulary (search_term of the live generation), held in memory per process.

Typo tolerance and did-you-mean compare a query word with the words of the index. Reading
them with a query per word (a length and first-letter range of search_term, or pg_trgm on
PostgreSQL) cost a statement per word on every search and grew with the vocabulary; the
vocabulary of a catalog is small (hundreds to tens of thousands of words) and changes seldom,
so each process keeps the live generation's words, sorted and grouped by first letter, and
the typo candidates it has already worked out.

Freshness: the generation row carries `vocabulary_revision`, moved by an index write that
brings in a word the generation did not have (most writes bring none). Every search reads the
generation row anyway, so a copy is reloaded exactly when its words changed, and a rebuild (a
new generation) is a new copy.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import select

from commerce.extensions import db
from commerce.search import text
from commerce.search.models import SearchTerm

MAX_CACHED_WORDS = 4096  # typo answers kept per vocabulary (a bound, not a tuning)
_term = SearchTerm.__table__
_lock = threading.Lock()
_loaded: dict[tuple[str, int], GenerationVocabulary] = {}


class SortedWords:
    """A set of words kept sorted: is a word (or a word's beginning) among them."""

    def __init__(self, words: Any) -> None:
        self.words = sorted(set(words))
        self._known = set(self.words)

    def knows(self, word: str, *, prefix: bool) -> bool:
        """Whether `word` is one of the words (or, with `prefix`, begins one)."""
        if word in self._known:
            return True
        if not prefix:
            return False
        at = bisect.bisect_left(self.words, word)
        return at < len(self.words) and self.words[at].startswith(word)


class GenerationVocabulary(SortedWords):
    """The words of one index generation: lookups by prefix, typo candidates by first letter."""

    def __init__(self, generation_id: int, words: list[str], revision: Any = 0) -> None:
        super().__init__(words)
        self.generation_id = generation_id
        self.revision = revision
        self._by_first: dict[str, list[str]] = {}
        self._by_second: dict[str, list[str]] = {}
        for word in self.words:
            self._by_first.setdefault(word[:1], []).append(word)
            self._by_second.setdefault(word[1:2], []).append(word)
        self._typos: OrderedDict[tuple[str, int, bool], list[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.words)

    def typo_candidates(self, word: str, budget: int, *, prefix: bool, limit: int) -> list[str]:
        """Words within `budget` typos of `word`, closest first (search's own rule: the
        candidates share the first letter, a wrong first letter costing two typos). With
        `prefix`, words that begin with something within the budget ("shirt" reaches
        "shorts" through "short"); words matched without a typo are left out."""
        key = (word, budget, prefix)
        found = self._typos.get(key)
        if found is not None:
            return found
        scored = []
        for term in self._by_first.get(word[:1], ()):
            if len(term) < len(word) - budget or (not prefix and len(term) > len(word) + budget):
                continue
            if term == word or (prefix and term.startswith(word)):
                continue
            distance = text.typo_distance(word, term, budget)
            if prefix and distance > budget:
                distance = min(
                    text.typo_distance(word, term[:size], budget)
                    for size in range(max(len(word) - budget, 1), len(word) + budget + 1)
                )
            if distance <= budget:
                scored.append((distance, term))
        found = [term for _d, term in sorted(scored)[:limit]]
        with _lock:
            self._typos[key] = found
            if len(self._typos) > MAX_CACHED_WORDS:
                self._typos.popitem(last=False)
        return found

    def closest(self, word: str, budget: int, limit: int) -> list[str]:
        """Did-you-mean's candidates: words of about the same length sharing the first or
        second letter (or the first two swapped), ranked by suggest.rank."""
        from commerce.search.suggest import rank

        first, second = word[:1], word[1:2]
        pool = set(self._by_first.get(first, ()))
        if second:
            pool.update(self._by_first.get(second, ()))
            pool.update(self._by_second.get(second, ()))
        terms = (w for w in pool if len(word) - budget <= len(w) <= len(word) + budget)
        return rank(word, budget, terms, limit)


def vocabulary(generation_id: int, revision: Any) -> GenerationVocabulary:
    """The generation's vocabulary at `revision` (its vocabulary_revision and start), read from the
    database only when this process has no copy of that revision."""
    key = (db.engine.url.render_as_string(), int(generation_id))
    found = _loaded.get(key)
    if found is not None and found.revision == revision:
        return found
    words = list(db.session.scalars(select(_term.c.term).where(_term.c.generation_id == key[1])))
    found = GenerationVocabulary(key[1], words, revision)
    with _lock:
        for other in [k for k in _loaded if k[0] == key[0] and k[1] != key[1]]:
            _loaded.pop(other, None)  # a retired generation's words are never asked again
        _loaded[key] = found
    return found


def forget() -> None:
    """Drop every copy (tests that rebuild the index in place)."""
    with _lock:
        _loaded.clear()
