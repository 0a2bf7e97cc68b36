"""Helping a shopper who is typing, or who found nothing: suggestions, did-you-mean, popular
products. Everything goes through the search port, so it works whichever backend answers.

Suggestions are an ordinary search for what has been typed so far (the port's prefix and typo
matching make "tshrt" reach T-shirts), cut to a few products, plus the categories that hold
the most matches (from the query's category facet).

Did-you-mean, when a search finds nothing: the backend's own typo tolerance already failed
within its budget, so each unknown word is corrected against the catalog's vocabulary with a
wider one (one edit for 3-4 letters, two for 5-8, three beyond; a different first letter
counts double, as in search), and a corrected phrase is offered only once a search for it
finds something. The vocabulary:

- db backend: the live index generation's own words (search_term), exactly what search
  matches, held in memory per process (vocabulary.py). Candidates are narrowed by length and
  by sharing the first or second letter (or the first two swapped), then scored.
  Trigram similarity (pg_trgm) was not used here: a typo in a short word (the common case)
  shares too few trigrams with the right word to be found by it.
- meilisearch backend (or a db backend with no index yet): our database has no copy of the
  engine's vocabulary, so the words of active products (titles, vendors, types, tags, option
  values) and of categories and collections are read from the catalog, tokenized like the
  index does, and kept in memory for VOCABULARY_TTL seconds per process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from commerce.catalog.models import ACTIVE, Category, Collection, OptionType, Product, ProductTag
from commerce.extensions import db
from commerce.search import text
from commerce.search.backends import get_backend
from commerce.search.port import BEST_SELLING, CATEGORY, MAX_TEXT, Hit, SearchQuery
from commerce.search.rules import load_settings
from commerce.search.vocabulary import SortedWords

MIN_CHARS = 2  # suggestions start from this many characters
MAX_PRODUCTS = 6
MAX_CATEGORIES = 4
POPULAR = 8
MAX_WORDS = 6  # did-you-mean leaves longer queries alone
MAX_CHECKS = 4  # searches a did-you-mean may run to verify a correction
CANDIDATES_PER_WORD = 3
SUGGEST_SAMPLE = 200  # matches whose categories are counted for the suggested categories
VOCABULARY_TTL = 600.0


def _search(query: SearchQuery) -> Any:
    from commerce.search.services import search_products

    return search_products(query)


# -- suggestions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategorySuggestion:
    id: int
    name: str
    full_name: str
    handle: str
    count: int  # matching products in it (subcategories included)


@dataclass
class Suggestions:
    query: str  # as typed, spaces collapsed
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    total_exact: bool = True  # False: the backend estimated the total of a broad match
    categories: list[CategorySuggestion] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [hit.id for hit in self.hits]


def suggest(
    typed: str, *, products: int = MAX_PRODUCTS, categories: int = MAX_CATEGORIES
) -> Suggestions:
    """The first `products` matches for what has been typed (highlighted) and up to
    `categories` categories holding the most of them. Under MIN_CHARS characters: nothing."""
    phrase = " ".join((typed or "").split())[:MAX_TEXT]
    if len(phrase) < MIN_CHARS or not text.query_words(phrase):
        return Suggestions(query=phrase)
    result = _search(
        SearchQuery(text=phrase, per_page=products, facets=(CATEGORY,), facet_sample=SUGGEST_SAMPLE)
    )
    return Suggestions(
        query=phrase,
        hits=result.hits,
        total=result.total,
        total_exact=result.total_exact,
        categories=_categories(result.facets.get(CATEGORY, {}), categories),
    )


def _categories(counts: dict[str, int], limit: int) -> list[CategorySuggestion]:
    """The most specific categories with the most matches; a parent that adds nothing to a
    subcategory already shown (the same count) is left out."""
    ids = [int(v) for v in counts if v.isdigit()]
    if not ids or limit <= 0:
        return []
    rows = db.session.execute(
        select(
            Category.id, Category.name, Category.full_name, Category.handle, Category.path_ids
        ).where(Category.id.in_(ids))
    ).all()
    ranked = sorted(
        rows,
        key=lambda r: (-counts[str(r.id)], -r.path_ids.strip("/").count("/"), r.full_name),
    )
    chosen: list[tuple[Any, int]] = []
    for row in ranked:
        count = counts[str(row.id)]
        redundant = any(
            other.path_ids.startswith(row.path_ids) and n == count for other, n in chosen
        )
        if not redundant:
            chosen.append((row, count))
        if len(chosen) >= limit:
            break
    return [CategorySuggestion(r.id, r.name, r.full_name or r.name, r.handle, n) for r, n in chosen]


# -- the no-results page ------------------------------------------------------------------------


@dataclass
class NoResultsHelp:
    did_you_mean: str | None
    popular_ids: list[int]


def no_results_help(typed: str, *, popular: int = POPULAR) -> NoResultsHelp:
    """What a results page with no hits offers: a corrected query that finds something, and
    popular products so the page is never a dead end."""
    return NoResultsHelp(did_you_mean=did_you_mean(typed), popular_ids=popular_product_ids(popular))


def popular_product_ids(limit: int = POPULAR) -> list[int]:
    """Best sellers (units sold in the last 30 days, as the index keeps them), those in stock
    first, then the rest, through the port (pins and hides do not apply: no words)."""
    base: dict[str, Any] = dict(sort=BEST_SELLING, facets=(), highlight=False)
    ids = _search(SearchQuery(in_stock=True, per_page=limit, **base)).ids
    if len(ids) < limit:
        rest = _search(SearchQuery(exclude_ids=tuple(ids), per_page=limit - len(ids), **base))
        ids += [i for i in rest.ids if i not in ids]
    return ids[:limit]


def correction_budget(word: str) -> int:
    """Edits a did-you-mean may make to a word: wider than search's own typo tolerance."""
    if len(word) < 3:
        return 0
    if len(word) <= 4:
        return 1
    return 2 if len(word) <= 8 else 3


def did_you_mean(typed: str, *, vocabulary: Vocabulary | None = None) -> str | None:
    """A corrected query that finds products, or None. Known words stay (the last one may be
    the start of a word); unknown ones take their closest vocabulary words. The best guess is
    tried first, then second choices one word at a time, then the query without words that
    match nothing; each is checked with a search (at most MAX_CHECKS)."""
    words = text.query_words(typed or "")
    if not words or len(words) > MAX_WORDS:
        return None
    vocab = vocabulary or current_vocabulary()
    stop_words = set(load_settings().stop_words)
    options: list[list[str]] = []
    unknown: list[int] = []
    for index, word in enumerate(words):
        last = index == len(words) - 1
        budget = correction_budget(word)
        if word in stop_words or word.isdigit() or not budget or vocab.knows(word, prefix=last):
            options.append([word])
            continue
        found = vocab.closest(word, budget, CANDIDATES_PER_WORD)
        if not found:
            unknown.append(index)
        options.append(found or [word])
    attempts: list[list[str]] = [[o[0] for o in options]]
    for index, choices in enumerate(options):
        for choice in choices[1:]:
            attempts.append([*attempts[0][:index], choice, *attempts[0][index + 1 :]])
    if unknown and len(unknown) < len(words):
        attempts.append([w for i, w in enumerate(attempts[0]) if i not in unknown])
    original = " ".join(words)
    tried: set[str] = set()
    for attempt in attempts:
        phrase = " ".join(attempt)
        if phrase == original or phrase in tried:
            continue
        if len(tried) >= MAX_CHECKS:
            break
        tried.add(phrase)
        if _finds_something(phrase):
            return phrase
    return None


def _finds_something(phrase: str) -> bool:
    query = SearchQuery(text=phrase, per_page=1, facets=(), highlight=False)
    return _search(query).total > 0


# -- vocabularies -------------------------------------------------------------------------------


class Vocabulary(Protocol):
    def knows(self, word: str, *, prefix: bool) -> bool:
        """Whether `word` is a word of the catalog (or, with `prefix`, begins one)."""

    def closest(self, word: str, budget: int, limit: int) -> list[str]:
        """Up to `limit` words within `budget` edits of `word`, the closest first."""


def rank(word: str, budget: int, terms: Iterable[str], limit: int) -> list[str]:
    """Terms within `budget` typos of `word` (search's distance), closest first, then those of
    the nearest length, then alphabetically."""
    scored = []
    for term in terms:
        if term == word:
            continue
        distance = text.typo_distance(word, term, budget)
        if distance <= budget:
            scored.append((distance, abs(len(term) - len(word)), term))
    return [term for *_key, term in sorted(scored)[:limit]]


def _anchored(word: str, term: str) -> bool:
    """The candidates' narrowing (as GenerationVocabulary.closest does it)."""
    return term[:1] == word[:1] or term[1:2] == word[1:2] or term[:1] == word[1:2]


class CatalogVocabulary(SortedWords):
    """Words of the active catalog read from its tables, for backends whose vocabulary our
    database does not hold."""

    _cache: dict[str, tuple[float, CatalogVocabulary]] = {}

    def __init__(self, words: Iterable[str]) -> None:
        super().__init__(words)
        self._by_length: dict[int, list[str]] = {}
        for word in self.words:
            self._by_length.setdefault(len(word), []).append(word)

    @classmethod
    def load(cls, *, fresh: bool = False) -> CatalogVocabulary:
        key = db.engine.url.render_as_string()
        cached = cls._cache.get(key)
        if cached is not None and not fresh and time.monotonic() - cached[0] < VOCABULARY_TTL:
            return cached[1]
        vocabulary = cls(_catalog_words())
        cls._cache[key] = (time.monotonic(), vocabulary)
        return vocabulary

    def closest(self, word: str, budget: int, limit: int) -> list[str]:
        terms = (
            term
            for size in range(len(word) - budget, len(word) + budget + 1)
            for term in self._by_length.get(size, ())
            if _anchored(word, term)
        )
        return rank(word, budget, terms, limit)


def _catalog_words() -> set[str]:
    """The words of what the index would hold, tokenized as the index does (letters only)."""
    active = select(Product.id).where(Product.status == ACTIVE)
    sources: list[str] = []
    for title, vendor, product_type in db.session.execute(
        select(Product.title, Product.vendor, Product.product_type).where(Product.status == ACTIVE)
    ):
        sources += [title or "", vendor or "", product_type or ""]
    sources += db.session.scalars(
        select(ProductTag.tag).where(ProductTag.product_id.in_(active)).distinct()
    )
    for values in db.session.scalars(
        select(OptionType.values).where(OptionType.product_id.in_(active))
    ):
        sources += [str(v) for v in values or []]
    sources += db.session.scalars(select(Category.name))
    sources += db.session.scalars(select(Collection.title))
    return {
        token
        for source in sources
        for token in text.tokens(source)
        if 1 < len(token) <= 64 and token.isalpha()
    }


def current_vocabulary() -> Vocabulary:
    """The vocabulary of the backend in use (see the module's notes)."""
    from commerce.search.backends.db import DatabaseBackend
    from commerce.search.vocabulary import vocabulary

    backend = get_backend()
    if isinstance(backend, DatabaseBackend):
        live = backend._live()
        if live is not None:  # held in memory per process (vocabulary.py)
            return vocabulary(live[0], live[1][1:])
    return CatalogVocabulary.load()
