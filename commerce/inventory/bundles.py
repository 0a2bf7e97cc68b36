"""The stock of bundles: a bundle holds none itself, its components' levels are its stock.

- `expand` turns a cart's (variant, units) into what stock must move: each bundle replaced by
  its components times the units, summed with the loose lines of the same variants, so a cart
  with a gift box and a loose mug asks the mug's levels for both at once (reserve_stock then
  plans and updates them in id order, as for any cart).
- `bundle_stock` is what a bundle can sell: the minimum over its components of
  floor(available / units per bundle), each component's available units summed over the
  active locations (the same counters reservations use); a component sold beyond stock
  (policy "continue") never limits it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from commerce.catalog.bundles import bundles_containing, components_of
from commerce.catalog.models import CONTINUE, Product, Variant
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel

FREE = StockLevel.available


def expand(lines: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """(variant, units) with bundles replaced by their components, summed per variant, in
    variant id order. Plain variants pass through (one query to know which are bundles)."""
    pairs = [(int(v), int(q)) for v, q in lines]
    parts = components_of(v for v, _ in pairs)
    demand: dict[int, int] = defaultdict(int)
    for variant_id, quantity in pairs:
        if variant_id in parts:
            for component_id, per_bundle in parts[variant_id]:
                demand[component_id] += per_bundle * quantity
        else:
            demand[variant_id] += quantity
    return sorted(demand.items())


def free_units(variant_ids: Iterable[int]) -> dict[int, int]:
    """Units free to sell per variant at active locations (one grouped query)."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(StockLevel.variant_id, func.sum(FREE))
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.variant_id.in_(ids), Location.is_active.is_(True))
        .group_by(StockLevel.variant_id)
    ).all()
    return {variant_id: int(free or 0) for variant_id, free in rows}


@dataclass(frozen=True)
class BundleStock:
    """What a bundle can sell now; `unlimited` when every component sells beyond stock."""

    available: int
    unlimited: bool


def bundle_stock(
    parts: dict[int, list[tuple[int, int]]],
    free: dict[int, int],
    policies: dict[int, str],
) -> dict[int, BundleStock]:
    """Each bundle's sellable units from its components' free units and policies."""
    result: dict[int, BundleStock] = {}
    for bundle_id, comps in parts.items():
        limits = [
            max(free.get(component_id, 0), 0) // per_bundle
            for component_id, per_bundle in comps
            if policies.get(component_id) != CONTINUE
        ]
        result[bundle_id] = BundleStock(min(limits) if limits else 0, not limits)
    return result


def bundles_stock(bundle_ids: Iterable[int]) -> dict[int, BundleStock]:
    """Sellable units of these bundles (variants that are not bundles are absent): three
    queries whatever their number."""
    parts = components_of(bundle_ids)
    if not parts:
        return {}
    component_ids = {c for comps in parts.values() for c, _ in comps}
    policies = dict(
        db.session.execute(
            select(Variant.id, Variant.inventory_policy).where(Variant.id.in_(component_ids))
        ).all()
    )
    return bundle_stock(parts, free_units(component_ids), policies)


def with_bundles(variant_ids: Iterable[int]) -> list[int]:
    """These variants and the bundles made of them: what a stock change concerns (search, the
    sold-out markers and the edge cache see a bundle sell out when a component does)."""
    ids = {int(v) for v in variant_ids}
    return sorted(ids | set(bundles_containing(ids))) if ids else []


@dataclass(frozen=True)
class ComponentStock:
    """One component of a bundle, as the bundle's stock page shows it."""

    variant_id: int
    product_id: int
    label: str
    sku: str | None
    per_bundle: int
    available: int
    sells_beyond_stock: bool
    by_location: tuple[tuple[str, int], ...]

    @property
    def bundles_possible(self) -> int | None:
        return None if self.sells_beyond_stock else max(self.available, 0) // self.per_bundle


def component_stock(bundle_id: int) -> list[ComponentStock]:
    """The bundle's components with what each has free, in total and per active location (by
    priority), and how many bundles that allows. Three queries."""
    comps = components_of([bundle_id]).get(bundle_id, [])
    if not comps:
        return []
    ids = [c for c, _ in comps]
    variants = {
        v.id: (v, title)
        for v, title in db.session.execute(
            select(Variant, Product.title)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(ids))
        ).all()
    }
    per_location: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for variant_id, code, free in db.session.execute(
        select(StockLevel.variant_id, Location.code, FREE)
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.variant_id.in_(ids), Location.is_active.is_(True))
        .order_by(Location.priority, Location.id)
    ).all():
        per_location[variant_id].append((code, int(free)))
    rows = []
    for component_id, per_bundle in comps:
        variant, title = variants[component_id]
        label = title if variant.title == "Default Title" else f"{title} - {variant.title}"
        places = tuple(per_location.get(component_id, ()))
        rows.append(
            ComponentStock(
                component_id,
                variant.product_id,
                label,
                variant.sku,
                per_bundle,
                sum(free for _, free in places),
                variant.inventory_policy == CONTINUE,
                places,
            )
        )
    return rows


def component_units(components: Sequence[dict], bundles: int) -> list[tuple[int, int]]:
    """An order line's components (its snapshot) times the bundles: (variant, units)."""
    return [(int(c["variant_id"]), int(c["quantity"]) * bundles) for c in components]


@dataclass
class BundleWatch:
    """The bundles made of some variants, read before their stock rows are updated, so the
    news that a bundle sold out (or came back) costs no read after the UPDATE that holds the
    row lock: `crossed` is computed from the counts the UPDATEs returned."""

    parts: dict[int, list[tuple[int, int]]]
    policies: dict[int, str]
    free: dict[int, int]

    def crossed(self, changes: dict[int, int], after: dict[int, int] | None = None) -> list[int]:
        """Bundles whose sellable units crossed zero by `changes` (variant -> change of its
        free units, already applied); `after` overrides the free units read before."""
        if not self.parts:
            return []
        now = {**self.free, **(after or {})}
        if after is None:
            now = {v: free + changes.get(v, 0) for v, free in self.free.items()}
        then = {v: free - changes.get(v, 0) for v, free in now.items()}
        after_stock = bundle_stock(self.parts, now, self.policies)
        before_stock = bundle_stock(self.parts, then, self.policies)
        return sorted(
            bundle_id
            for bundle_id in self.parts
            if not after_stock[bundle_id].unlimited
            and (after_stock[bundle_id].available > 0) != (before_stock[bundle_id].available > 0)
        )


def watch(variant_ids: Iterable[int]) -> BundleWatch:
    """The bundles that use these variants, their components' policies and free units: one
    query when no bundle uses them, three otherwise."""
    parts = components_of(bundles_containing(variant_ids))
    if not parts:
        return BundleWatch({}, {}, {})
    component_ids = {c for comps in parts.values() for c, _ in comps}
    policies = dict(
        db.session.execute(
            select(Variant.id, Variant.inventory_policy).where(Variant.id.in_(component_ids))
        ).all()
    )
    free = {c: 0 for c in component_ids} | free_units(component_ids)
    return BundleWatch(parts, policies, free)
