"""The shop's listing requests: the filter a shopper put in the URL, parsed leniently (bad
values drop, with a word why), and the URL arguments that keep it; the navigation's categories
once per request. The reads themselves are the catalog's (commerce/catalog/listing.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from flask import g
from werkzeug.datastructures import MultiDict

from commerce.catalog import listing as catalog_listing
from commerce.catalog.listing import SORTS, ListingFilter
from commerce.catalog.models import Category
from commerce.errors import ValidationError
from commerce.money import format_amount_plain, parse_amount

MAX_OPTION_FILTERS = 12


def parse_prices(
    args: MultiDict[str, str], currency: str, problems: list[str]
) -> dict[str, int | None]:
    """The price range typed in major units (`min`, `max`); a bad one is ignored and said."""
    prices: dict[str, int | None] = {}
    for key, label in (("min", "lowest"), ("max", "highest")):
        raw = (args.get(key) or "").strip()
        prices[key] = None
        if raw:
            try:
                prices[key] = max(parse_amount(raw, currency), 0)
            except ValidationError:
                problems.append(f"The {label} price “{raw}” is not an amount; it was ignored.")
    return prices


def parse_options(args: MultiDict[str, str]) -> tuple[tuple[str, str], ...]:
    """Option filters `opt=Name:Value`, at most MAX_OPTION_FILTERS, without repeats."""
    options: list[tuple[str, str]] = []
    for raw in args.getlist("opt")[:MAX_OPTION_FILTERS]:
        name, sep, value = raw.partition(":")
        pair = (name.strip(), value.strip())
        if sep and all(pair) and pair not in options:
            options.append(pair)
    return tuple(options)


def parse_page(args: MultiDict[str, str]) -> int:
    try:
        return min(max(int(args.get("page", 1)), 1), catalog_listing.MAX_PAGE)
    except ValueError:
        return 1


@dataclass(frozen=True)
class ShopFilter(ListingFilter):
    """The catalog's ListingFilter as the query string gave it, with what was ignored."""

    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: MultiDict[str, str], currency: str) -> ShopFilter:
        problems: list[str] = []
        sort = args.get("sort", "featured")
        if sort not in SORTS:
            sort = "featured"
        prices = parse_prices(args, currency, problems)
        return cls(
            sort=sort,
            price_min=prices["min"],
            price_max=prices["max"],
            options=parse_options(args),
            in_stock=args.get("in_stock") in ("1", "on", "true"),
            page=parse_page(args),
            problems=tuple(problems),
        )

    def args(self, currency: str, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for url_for (defaults left out, so URLs stay short)."""
        flt = replace(self, **changes)
        out: dict[str, Any] = {}
        if flt.sort != "featured":
            out["sort"] = flt.sort
        if flt.price_min is not None:
            out["min"] = format_amount_plain(flt.price_min, currency)
        if flt.price_max is not None:
            out["max"] = format_amount_plain(flt.price_max, currency)
        if flt.options:
            out["opt"] = [f"{n}:{v}" for n, v in flt.options]
        if flt.in_stock:
            out["in_stock"] = "1"
        if flt.page > 1:
            out["page"] = flt.page
        return out


_TOP = "shop.top_categories"


def remember_top_categories(categories: list[Category]) -> None:
    """The navigation's categories, read along with others by the page (see top_categories)."""
    g.setdefault(_TOP, categories)


def top_categories() -> list[Category]:
    """The navigation's categories (read once per request)."""
    if _TOP not in g:
        g.setdefault(_TOP, catalog_listing.top_categories())
    return list(g.get(_TOP))
