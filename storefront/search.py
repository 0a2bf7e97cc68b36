"""Catalog search from the header box: a plain GET form, enhanced by htmx.

The results come from the search port (commerce.search): whichever backend is configured
answers, with typo tolerance, prefixes, facet counts and highlighted titles. The query, facet
filters, sort and page all live in the URL, so a results page is the same for every shopper
and publicly cacheable (stock badges arrive in their private fragment, as on other listings).
A search that finds nothing offers a corrected query and popular products.

While the shopper types, the box asks `/search/suggest` for a fragment of suggestions (also
public: the same for everyone who typed the same). Because the pages are cached, searches and
clicks are counted by a beacon from the browser to `POST /search/events`, not by the views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Response, current_app, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from commerce.catalog import listing as catalog
from commerce.edge.keys import SEARCH, product_key
from commerce.errors import ValidationError
from commerce.extensions import csrf, limiter
from commerce.money import format_amount_plain
from commerce.search import SearchBackendError, SearchQuery, analytics
from commerce.search import search as search_catalog
from commerce.search.suggest import MIN_CHARS, no_results_help, suggest
from storefront import bp, listing
from storefront.web import htmx_target, private, public
from web.pages import render

MAX_QUERY = 100
MAX_VALUES = 12  # per facet in the URL
PER_PAGE = catalog.PER_PAGE
MAX_PAGE = catalog.MAX_PAGE
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
    labels = catalog.facet_labels(
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

    entries: list[tuple[catalog.Card, Any]]
    total: int
    page: int
    pages: int
    facets: list[FacetGroup]
    in_stock_count: int
    price_range: tuple[int, int] | None
    total_exact: bool = True  # False: a broad search's total is an estimate ("About 13,000")
    facets_exact: bool = True  # False: facet counts estimated from a sample (shown with ~)

    @property
    def offset(self) -> int:
        """Hits before this page: a card's position in all results is offset + its index."""
        return (self.page - 1) * PER_PAGE

    @property
    def cards(self) -> list[catalog.Card]:
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
    cards = {card.product.id: card for card in catalog.cards_for([h.id for h in result.hits])}
    return Results(
        entries=[(cards[h.id], h) for h in result.hits if h.id in cards],
        total=result.total,
        page=min(flt.page, pages),
        pages=pages,
        facets=facet_groups(result, flt),
        in_stock_count=result.facets.get("in_stock", {}).get("true", 0),
        price_range=result.price_range,
        total_exact=result.total_exact,
        facets_exact=result.facets_exact,
    )


@dataclass
class NoResults:
    """What a search with no hits offers instead."""

    did_you_mean: str | None
    popular: list[catalog.Card]


def help_for(flt: SearchFilter, shown: Results | None) -> NoResults | None:
    """Only for words that found nothing at all: with filters, clearing them is the help."""
    if shown is None or shown.total or flt.is_filtered():
        return None
    found = no_results_help(flt.q)
    return NoResults(found.did_you_mean, catalog.cards_for(found.popular_ids))


@bp.route("/search")
def search() -> Response:
    currency = current_app.config["SHOP_CURRENCY"]
    flt = SearchFilter.from_args(request.args, currency)
    shown = run_search(flt) if flt.q else None
    no_results = help_for(flt, shown)

    def link(**changes: Any) -> str:
        return url_for("storefront.search", **flt.args(currency, **changes))

    fragments = {
        "search-results": "storefront/_search_results.html",
        "main": "storefront/_search.html",
    }
    shown_cards = [*(shown.cards if shown else []), *(no_results.popular if no_results else [])]
    return public(
        render(
            "storefront/search.html",
            fragments.get(htmx_target()),
            q=flt.q,
            flt=flt,
            shown=shown,
            no_results=no_results,
            sorts=SORTS,
            currency=currency,
            link=link,
            clear_url=url_for("storefront.search", q=flt.q),
            search_url=url_for("storefront.search"),
        ),
        keys=[SEARCH, *(product_key(card.product.id) for card in shown_cards)],
        edge_max_age=current_app.config["EDGE_SEARCH_MAX_AGE"],
    )


# -- suggestions while typing -------------------------------------------------------------------

SUGGEST_MAX_AGE = 30  # seconds: new products reach suggestions within a minute or so


@bp.route("/search/suggest")
def search_suggest() -> Response:
    """The header box's suggestions: a fragment for the listbox under it. Nothing per shopper,
    so it is publicly cacheable for a short while. Under MIN_CHARS characters: empty."""
    typed = " ".join((request.args.get("q") or "").split())[:MAX_QUERY]
    try:
        found = suggest(typed)
    except SearchBackendError:  # the box stays usable: submitting still searches
        return private(Response("", mimetype="text/html"))
    cards = {card.product.id: card for card in catalog.cards_for(found.ids)}
    entries = [(cards[h.id], h) for h in found.hits if h.id in cards]
    body = render_template(
        "storefront/_suggest.html",
        q=found.query,
        entries=entries,
        total=found.total,
        total_exact=found.total_exact,
        categories=found.categories,
        min_chars=MIN_CHARS,
    )
    return public(
        Response(body, mimetype="text/html"),
        keys=[SEARCH, *(product_key(card.product.id) for card, _hit in entries)],
        max_age=SUGGEST_MAX_AGE,
        edge_max_age=current_app.config["EDGE_SEARCH_MAX_AGE"],
    )


# -- analytics beacon ---------------------------------------------------------------------------

MAX_EVENT_BODY = 1024
EVENT_FIELDS = {
    "search": {"kind", "q", "results", "visitor"},
    "click": {"kind", "q", "product", "position", "visitor"},
}


def _events_limit() -> str:
    return current_app.config["SEARCH_EVENTS_RATE_LIMIT"]


def _answer(status: int, message: str = "") -> Response:
    """Never stored, and never a cookie: the beacon is the same whoever sends it (the session
    interface drops session changes from responses marked shared_cacheable)."""
    response = Response(message, status=status, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    response.shared_cacheable = True  # type: ignore[attr-defined]
    return response


def _whole(value: str | None, name: str) -> int:
    if value is None or not value.isdigit() or len(value) > 12:
        raise ValidationError(f"{name} must be a whole number.", field=name)
    return int(value)


@bp.route("/search/events", methods=["POST"])
@csrf.exempt
@limiter.limit(_events_limit)
def search_events() -> Response:
    """A search or a click reported by the shopper's browser (navigator.sendBeacon).

    No CSRF token: the pages that send it are shared-cacheable and carry none, and an event
    changes nothing of value (a forged one skews a report, and the rate limit bounds that).
    It is checked strictly instead: a small form body with exactly the fields of its kind,
    never from another site, and answered 204 with no cookie; anything else is a 4xx.
    """
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return _answer(403, "cross-site events are refused")
    if request.content_length is None:
        return _answer(411, "a body with a length is required")
    if request.content_length > MAX_EVENT_BODY:
        return _answer(413, "too large")
    request.max_content_length = MAX_EVENT_BODY
    if request.mimetype != "application/x-www-form-urlencoded":
        return _answer(400, "send a form body")
    form = request.form
    kind = form.get("kind", "")
    fields = EVENT_FIELDS.get(kind)
    if fields is None:
        return _answer(400, "kind must be search or click")
    names = list(form.keys())
    if set(names) - fields or any(len(form.getlist(n)) > 1 for n in names):
        return _answer(400, "unexpected fields")
    if "q" not in form:
        return _answer(400, "q is required")
    try:
        if kind == "search":
            analytics.record_search(
                form["q"], _whole(form.get("results"), "results"), form.get("visitor", "")
            )
        else:
            analytics.record_click(
                form["q"],
                _whole(form.get("product"), "product"),
                _whole(form.get("position"), "position"),
                form.get("visitor", ""),
            )
    except ValidationError as exc:
        return _answer(400, "; ".join(m for ms in exc.errors.values() for m in ms) or exc.message)
    return _answer(204)
