"""Stock value and low stock, as they stand now.

Stock has no history by price (a variant's price today is the only one kept), so these are
snapshots: the value of the units on hand at active locations, per location and for the
variants worth most. Each valuation is a column of VALUATIONS, so a new one (at unit cost, once
variants carry a cost) is one entry there: every query sums each of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from commerce.catalog.models import Product, Variant
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel
from commerce.inventory.queries import LowStock, low_stock
from commerce.reports.sales import shop_currency

# Valuation -> (label, the per-unit amount in minor units). The cost is the variant's weighted
# average unit cost (inventory/costing.py); units never costed count at zero.
VALUATIONS: dict[str, tuple[str, Any]] = {
    "retail": ("At retail price", Variant.price),
    "cost": ("At average cost", func.coalesce(Variant.cost, 0)),
}
TOP_VARIANTS = 20
LOW_STOCK_ROWS = 50


@dataclass
class ValueRow:
    id: int | None
    name: str
    units: int
    values: dict[str, int] = field(default_factory=dict)  # valuation -> minor units
    detail: str = ""


@dataclass
class StockReport:
    currency: str
    valuations: dict[str, str]  # key -> label
    locations: list[ValueRow]
    variants: list[ValueRow]
    low: list[LowStock]

    @property
    def total(self) -> ValueRow:
        row = ValueRow(None, "Total", sum(r.units for r in self.locations))
        row.values = {k: sum(r.values.get(k, 0) for r in self.locations) for k in self.valuations}
        return row


def _valued() -> list[Any]:
    """One summed column per valuation: on hand x that valuation's unit amount."""
    return [
        func.coalesce(func.sum(StockLevel.on_hand * amount), 0).label(key)
        for key, (_label, amount) in VALUATIONS.items()
    ]


def stock_value(*, top: int = TOP_VARIANTS) -> StockReport:
    """Three statements: the value per active location, the variants worth most, low stock."""
    positive = StockLevel.on_hand > 0  # units owed (negative on hand) carry no value
    per_location = db.session.execute(
        select(
            Location.id, Location.name, func.coalesce(func.sum(StockLevel.on_hand), 0), *_valued()
        )
        .select_from(StockLevel)
        .join(Location, Location.id == StockLevel.location_id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(Location.is_active.is_(True), positive)
        .group_by(Location.id, Location.name)
        .order_by(Location.name, Location.id)
    )
    first = next(iter(VALUATIONS))
    keys = list(VALUATIONS)
    locations = [
        ValueRow(lid, name, int(units), dict(zip(keys, map(int, figures), strict=True)))
        for lid, name, units, *figures in per_location
    ]
    worth = func.coalesce(func.sum(StockLevel.on_hand * VALUATIONS[first][1]), 0)
    per_variant = db.session.execute(
        select(
            Variant.id,
            Product.title,
            Variant.sku,
            func.coalesce(func.sum(StockLevel.on_hand), 0),
            *_valued(),
        )
        .select_from(StockLevel)
        .join(Location, Location.id == StockLevel.location_id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Location.is_active.is_(True), positive)
        .group_by(Variant.id, Product.title, Variant.sku)
        .order_by(worth.desc(), Variant.id)
        .limit(top)
    )
    variants = [
        ValueRow(vid, title, int(units), dict(zip(keys, map(int, figures), strict=True)), sku or "")
        for vid, title, sku, units, *figures in per_variant
    ]
    return StockReport(
        shop_currency(),
        {key: label for key, (label, _amount) in VALUATIONS.items()},
        locations,
        variants,
        low_stock(limit=LOW_STOCK_ROWS),
    )
