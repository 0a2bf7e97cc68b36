"""Catalog search from the header box: a plain GET form, enhanced by htmx.

The results come from the search port (commerce.search): whichever backend is configured
answers, with typo tolerance, prefixes, facet counts and highlighted titles. The query, facet
filters, sort and page all live in the URL, so a results page is the same for every shopper
and publicly cacheable (stock badges arrive in their private fragment, as on other listings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Response, current_app, request, url_for
from werkzeug.datastructures import MultiDict

from commerce.money import format_amount_plain
from commerce.search import SearchQuery
from commerce.search import search as search_catalog
from storefront import bp, listing
from storefront.web import htmx_target, public, render

MAX_QUERY = 100
MAX_VALUES = 12  # per facet in the URL
PER_PAGE = listing.PER_PAGE
MAX_PAGE = listing.MAX_PAGE
SORTS = {
    "relevance": "Best match",
    "best-selling": "Best selling",
    "newest": "Newest",
    "price-asc": "Price: low to high",
    "price-desc": "Price: high to low",
}
# URL argument -> facet name of the port
FACET_ARGS = {
    "category": "category",
    "collection": "collection",
    "vendor": "vendor",
    "type": "product_type",
    "tag": "tag",
}


def _ints(values: list[str]) -> tuple[int, ...]:
    out: list[int] = []
    for value in values[:MAX_VALUES]:
        try:
            number = int(value)
        except ValueError:
            continue
        if number > 0 and number not in out:
            out.append(number)
    return tuple(out)


def _texts(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values[:MAX_VALUES]:
        value = " ".join(value.split())[:255]
        if value and value not in out:
            out.append(value)
    return tuple(out)


@dataclass(frozen=True)
class SearchFilter:
    """The search as the URL states it, parsed leniently (bad values are dropped)."""

    q: str = ""
    sort: str = "relevance"
    category: tuple[int, ...] = ()
    collection: tuple[int, ...] = ()
    vendor: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    opt: tuple[tuple[str, str], ...] = ()
    price_min: int | None = None
    price_max: int | None = None
    in_stock: bool = False
    page: int = 1
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: MultiDict[str, str], currency: str) -> SearchFilter:
        problems: list[str] = []
        sort = args.get("sort", "relevance")
        prices = listing.parse_prices(args, currency, problems)
        return cls(
            q=" ".join((args.get("q") or "").split())[:MAX_QUERY],
            sort=sort if sort in SORTS else "relevance",
            category=_ints(args.getlist("category")),
            collection=_ints(args.getlist("collection")),
            vendor=_texts(args.getlist("vendor")),
            type=_texts(args.getlist("type")),
            tag=_texts(args.getlist("tag")),
            opt=listing.parse_options(args),
            price_min=prices["min"],
            price_max=prices["max"],
            in_stock=args.get("in_stock") in ("1", "on", "true"),
            page=listing.parse_page(args),
            problems=tuple(problems),
        )

    def query(self) -> SearchQuery:
        return SearchQuery(
            text=self.q,
            categories=self.category,
            collections=self.collection,
            vendors=self.vendor,
            product_types=self.type,
            tags=self.tag,
            options=self.opt,
            price_min=self.price_min,
            price_max=self.price_max,
            in_stock=self.in_stock,
            sort=self.sort,
            page=self.page,
            per_page=PER_PAGE,
        )

    def args(self, currency: str, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for url_for (defaults left out, so URLs stay short)."""
        flt = replace(self, **changes)
        out: dict[str, Any] = {"q": flt.q}
        if flt.sort != "relevance":
            out["sort"] = flt.sort
        for name in ("category", "collection", "vendor", "type", "tag"):
            if getattr(flt, name):
                out[name] = list(getattr(flt, name))
        if flt.opt:
            out["opt"] = [f"{n}:{v}" for n, v in flt.opt]
        if flt.price_min is not None:
            out["min"] = format_amount_plain(flt.price_min, currency)
        if flt.price_max is not None:
            out["max"] = format_amount_plain(flt.price_max, currency)
        if flt.in_stock:
            out["in_stock"] = "1"
        if flt.page > 1:
            out["page"] = flt.page
        return out

    def is_filtered(self) -> bool:
        chosen = (self.category, self.collection, self.vendor, self.type, self.tag, self.opt)
        prices = (self.price_min, self.price_max)
        return any(chosen) or self.in_stock or any(p is not None for p in prices)

    def chosen(self, arg: str, value: Any) -> bool:
        if arg == "opt":
            return tuple(str(value).split(":", 1)) in self.opt
        values = getattr(self, arg)
        return (int(value) if arg in ("category", "collection") else value) in values


@dataclass
class FacetGroup:
    arg: str  # URL argument
    legend: str
    values: list[tuple[str, str, int]]  # (value, label, count)


def facet_groups(result: Any, flt: SearchFilter) -> list[FacetGroup]:
    """The result's facet counts as the filter form shows them, with names for ids."""
    labels = listing.facet_labels(
        categories=[int(v) for v in result.facets.get("category", {})],
        collections=[int(v) for v in result.facets.get("collection", {})],
    )
    groups: list[FacetGroup] = []
    for arg, legend in (
        ("category", "Category"),
        ("collection", "Collection"),
        ("vendor", "Brand"),
        ("type", "Type"),
        ("tag", "Tag"),
    ):
        counts = result.facets.get(FACET_ARGS[arg], {})
        values = [
            (value, labels.get((arg, value), value), count)
            for value, count in counts.items()
            if (arg, value) in labels or arg not in ("category", "collection")
        ]
        if values:
            groups.append(FacetGroup(arg, legend, values))
    by_option: dict[str, FacetGroup] = {}
    for pair, count in result.facets.get("option", {}).items():
        name, _sep, value = pair.partition(":")
        group = by_option.setdefault(name.casefold(), FacetGroup("opt", name, []))
        group.values.append((pair, value, count))
    groups += list(by_option.values())
    return groups


@dataclass
class Results:
    """What the results fragment shows: cards paired with their highlighted hits."""

    entries: list[tuple[listing.Card, Any]]
    total: int
    page: int
    pages: int
    facets: list[FacetGroup]
    in_stock_count: int
    price_range: tuple[int, int] | None

    @property
    def cards(self) -> list[listing.Card]:
        return [card for card, _hit in self.entries]

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def run_search(flt: SearchFilter) -> Results:
    result = search_catalog(flt.query())
    pages = max(min(math.ceil(result.total / PER_PAGE), MAX_PAGE), 1)
    if flt.page > pages and result.total:  # past the last page: show the last one
        flt = replace(flt, page=pages)
        result = search_catalog(flt.query())
    cards = {card.product.id: card for card in listing.cards_for([h.id for h in result.hits])}
    return Results(
        entries=[(cards[h.id], h) for h in result.hits if h.id in cards],
        total=result.total,
        page=min(flt.page, pages),
        pages=pages,
        facets=facet_groups(result, flt),
        in_stock_count=result.facets.get("in_stock", {}).get("true", 0),
        price_range=result.price_range,
    )


@bp.route("/search")
def search() -> Response:
    currency = current_app.config["SHOP_CURRENCY"]
    flt = SearchFilter.from_args(request.args, currency)
    shown = run_search(flt) if flt.q else None

    def link(**changes: Any) -> str:
        return url_for("storefront.search", **flt.args(currency, **changes))

    fragments = {
        "search-results": "storefront/_search_results.html",
        "main": "storefront/_search.html",
    }
    return public(
        render(
            "storefront/search.html",
            fragments.get(htmx_target()),
            q=flt.q,
            flt=flt,
            shown=shown,
            sorts=SORTS,
            currency=currency,
            link=link,
            clear_url=url_for("storefront.search", q=flt.q),
            search_url=url_for("storefront.search"),
        )
    )
