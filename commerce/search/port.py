"""The search port: what every backend accepts and answers, whichever engine is behind it.

A backend stores product documents (see documents.py) and answers a SearchQuery with a
SearchResult. Query rules are applied above the backends, in services.py: pins and hides with
the id filters, boosts and buries with the `any_of` / `none_of` conditions, which every backend
implements natively, so rules behave the same everywhere.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from markupsafe import Markup

from commerce.errors import CommerceError

RELEVANCE, PRICE_ASC, PRICE_DESC, NEWEST, BEST_SELLING = (
    "relevance",
    "price-asc",
    "price-desc",
    "newest",
    "best-selling",
)
SORTS = (RELEVANCE, PRICE_ASC, PRICE_DESC, NEWEST, BEST_SELLING)

# Facet names of the port (a backend maps them to its own attributes).
CATEGORY, COLLECTION, VENDOR, PRODUCT_TYPE, TAG, OPTION, IN_STOCK = (
    "category",
    "collection",
    "vendor",
    "product_type",
    "tag",
    "option",
    "in_stock",
)
FACETS = (CATEGORY, COLLECTION, VENDOR, PRODUCT_TYPE, TAG, OPTION, IN_STOCK)
# Facets a boost/bury condition can test (`any_of` / `none_of`); in_stock takes "true"/"false".
CONDITION_FACETS = (TAG, VENDOR, COLLECTION, IN_STOCK)
Condition = tuple[str, str]  # (facet, value): ("tag", "summer"), ("collection", "12")
MAX_FACET_VALUES = 100
MAX_PER_PAGE = 100
MAX_TEXT = 200


class SearchBackendError(CommerceError):
    """The search engine refused or failed a request (a failed Meilisearch task, a timeout).

    `message` is for shoppers (it names no host, port or engine); `detail` says what happened,
    for logs, the index's pending rows and the console. `refused_request` is set when the
    engine works but refused this request (an invalid document): other requests may pass,
    whereas any other failure (no answer, a server error, a bad key) fails them all."""

    status = 503
    code = "search_unavailable"
    PUBLIC_MESSAGE = "Search is not available right now. Please try again in a minute."

    def __init__(self, detail: str, *, refused_request: bool = False, **details: Any) -> None:
        super().__init__(self.PUBLIC_MESSAGE, **details)
        self.detail = detail
        self.refused_request = refused_request

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class TypoSettings:
    enabled: bool = True
    one_typo: int = 5  # words this long may carry one typo
    two_typos: int = 9  # and two from this length
    disabled_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexSettings:
    """What the merchandisers tune (stored in our database, pushed to the backend)."""

    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # word -> alternatives
    stop_words: tuple[str, ...] = ()
    typo: TypoSettings = TypoSettings()
    revision: int = 0


@dataclass(frozen=True)
class SearchQuery:
    """A shopper's question. Facet filters: any value within a facet, every facet; options:
    any value within one option name, every option name. Prices overlap the product's range."""

    text: str = ""
    categories: tuple[int, ...] = ()  # a category includes its subcategories
    collections: tuple[int, ...] = ()
    vendors: tuple[str, ...] = ()
    product_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()  # (option name, value)
    price_min: int | None = None  # minor units
    price_max: int | None = None
    in_stock: bool = False
    sort: str = RELEVANCE
    page: int = 1
    per_page: int = 24
    facets: tuple[str, ...] = FACETS
    highlight: bool = True
    # Set by the service for pins and hides, or by callers that need ids only.
    include_ids: tuple[int, ...] | None = None
    exclude_ids: tuple[int, ...] = ()
    # Set by the service for boosts and buries: products matching at least one of `any_of`
    # (when given) and none of `none_of`.
    any_of: tuple[Condition, ...] = ()
    none_of: tuple[Condition, ...] = ()
    offset: int | None = None  # overrides page/per_page when set
    limit: int | None = None
    # A backend that estimates facet counts of a broad match from a sample counts at most
    # this many matches (None: its own default); suggestions need only a rough top few.
    facet_sample: int | None = None

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}")
        unknown = set(self.facets) - set(FACETS)
        if unknown:
            raise ValueError(f"unknown facets {sorted(unknown)}")
        for facet, value in (*self.any_of, *self.none_of):
            if facet not in CONDITION_FACETS:
                raise ValueError(f"unknown condition facet {facet!r}")
            if facet == IN_STOCK and value not in ("true", "false"):
                raise ValueError(f"in_stock conditions take 'true' or 'false', not {value!r}")
            if facet == COLLECTION and not str(value).isdigit():
                raise ValueError(f"collection conditions take an id, not {value!r}")

    @property
    def window(self) -> tuple[int, int]:
        """(offset, limit) of the hits asked for."""
        if self.offset is not None:
            return self.offset, self.limit if self.limit is not None else self.per_page
        per_page = min(max(self.per_page, 1), MAX_PER_PAGE)
        return (max(self.page, 1) - 1) * per_page, per_page

    def option_groups(self) -> dict[str, list[str]]:
        """Option filters grouped by option name (compared without case): name -> "Name:Value"."""
        groups: dict[str, list[str]] = {}
        for name, value in self.options:
            groups.setdefault(name.casefold(), []).append(f"{name}:{value}")
        return groups

    def with_window(self, offset: int, limit: int, **changes: Any) -> SearchQuery:
        return replace(self, offset=offset, limit=limit, **changes)


@dataclass
class Hit:
    id: int
    document: dict[str, Any]
    highlights: dict[str, Markup] = field(default_factory=dict)
    pinned: bool = False
    boost: str = ""  # "boost" or "bury" when a query rule moved it (the console's preview)

    @property
    def title_html(self) -> Markup:
        return self.highlights.get("title") or Markup.escape(self.document.get("title", ""))


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]]  # facet -> value -> count, most frequent first
    took_ms: float
    query: SearchQuery
    price_range: tuple[int, int] | None = None  # lowest and highest price among the matches
    backend: str = ""
    # A backend that bounds its work on broad matches says so: the total is then an estimate
    # (total_exact False) and the facet counts (and price range) are estimated from a sample
    # of the matches (facets_exact False). Shown to shoppers as "about".
    total_exact: bool = True
    facets_exact: bool = True

    @property
    def page(self) -> int:
        return max(self.query.page, 1)

    @property
    def per_page(self) -> int:
        return self.query.window[1]

    @property
    def pages(self) -> int:
        return max(math.ceil(self.total / self.per_page), 1) if self.per_page else 1

    @property
    def ids(self) -> list[int]:
        return [hit.id for hit in self.hits]


def top_values(counts: dict[str, int], limit: int = MAX_FACET_VALUES) -> dict[str, int]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ordered[:limit])


Progress = Callable[[int], None]


class Rebuild(ABC):
    """A new index being filled while the old one keeps answering; swap() makes it live."""

    name: str

    @abstractmethod
    def add(self, documents: Sequence[dict[str, Any]]) -> None: ...

    @abstractmethod
    def swap(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class SearchBackend(ABC):
    """One search engine. Implementations must not connect at import or construction."""

    name: str

    @abstractmethod
    def configure(self, settings: IndexSettings) -> None:
        """Apply searchable/filterable/sortable attributes, ranking, synonyms, stop words and
        typo tolerance to the live index (and to an index being rebuilt)."""

    @abstractmethod
    def index(self, documents: Sequence[dict[str, Any]]) -> None:
        """Add or replace documents (by id), in the live index and in one being rebuilt."""

    @abstractmethod
    def delete(self, ids: Sequence[int]) -> None:
        """Remove documents by product id (absent ids are fine)."""

    @abstractmethod
    def search(self, query: SearchQuery, settings: IndexSettings) -> SearchResult:
        """Answer a query: hits in the query's window, exact total, facet counts, timing."""

    @abstractmethod
    def has_index(self) -> bool:
        """Whether a live index exists (a new shop has none until the first build)."""

    @abstractmethod
    def start_rebuild(self, generation_id: int, settings: IndexSettings) -> Rebuild:
        """Create a new, empty, configured index to fill and then swap in."""
