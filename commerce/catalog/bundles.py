"""Bundles and kits: a variant made of component variants with quantities.

A bundle is a normal variant (its own price, SKU, media) with rows in `bundle_component`. It
holds no stock: inventory expands it into its components wherever stock moves (holds,
allocations, shipping, returns). One level only: a bundle's component is never a bundle itself,
so expanding once is all there is. The CSV spells components "SKU-A x1; SKU-B x2".
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select

from commerce import audit
from commerce.catalog.models import BundleComponent, Product, Variant
from commerce.db import service
from commerce.errors import Conflict, ValidationError
from commerce.extensions import db

MAX_COMPONENTS = 20
MAX_COMPONENT_QUANTITY = 1000
# "SKU x2" (or the multiplication sign, or "*"); a space comes before it, so "CUP-X2" is a SKU.
_PART = re.compile(r"^(?P<sku>\S.*?)(?:\s+[x\u00d7*]\s*(?P<qty>\d+))?$", re.IGNORECASE)


def components_of(bundle_ids: Iterable[int]) -> dict[int, list[tuple[int, int]]]:
    """Each bundle's (component variant id, units per bundle), in its order; variants that are
    not bundles are absent. One query."""
    ids = sorted({int(v) for v in bundle_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            BundleComponent.bundle_variant_id,
            BundleComponent.component_variant_id,
            BundleComponent.quantity,
        )
        .where(BundleComponent.bundle_variant_id.in_(ids))
        .order_by(BundleComponent.bundle_variant_id, BundleComponent.position, BundleComponent.id)
    ).all()
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in rows:
        found[bundle_id].append((component_id, quantity))
    return dict(found)


def bundles_containing(variant_ids: Iterable[int]) -> list[int]:
    """The bundles that use any of these variants (their stock is the components')."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return []
    return sorted(
        set(
            db.session.scalars(
                select(BundleComponent.bundle_variant_id).where(
                    BundleComponent.component_variant_id.in_(ids)
                )
            )
        )
    )


def is_bundle(variant_id: int) -> bool:
    return bool(components_of([variant_id]))


def snapshot(bundle_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """What an order line records of a bundle it sells: each component's variant id, units per
    bundle, SKU, title and average unit cost (None when unknown), so later edits of the
    bundle never change a placed order."""
    parts = components_of(bundle_ids)
    if not parts:  # no bundle among them (the usual order): nothing more to read
        return {}
    wanted = {c for comps in parts.values() for c, _ in comps}
    found: dict[int, tuple[str | None, str, int | None]] = {}
    for variant, product_title in db.session.execute(
        select(Variant, Product.title)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(wanted))
    ).all():
        own = "" if variant.title == "Default Title" else variant.title
        title = f"{product_title} - {own}" if own else product_title
        found[variant.id] = (variant.sku, title, variant.cost)
    return {
        bundle_id: [
            {
                "variant_id": component_id,
                "quantity": quantity,
                "sku": found.get(component_id, (None, "", None))[0],
                "title": found.get(component_id, (None, "", None))[1],
                "cost": found.get(component_id, (None, "", None))[2],
            }
            for component_id, quantity in comps
        ]
        for bundle_id, comps in parts.items()
    }


def bundle_unit_cost(components: Iterable[dict[str, Any]]) -> int | None:
    """A bundle's cost from its snapshot: its components' costs times their units, or None
    when any component has no cost."""
    total = 0
    for component in components:
        cost = component.get("cost")
        if cost is None:
            return None
        total += int(cost) * int(component["quantity"])
    return total


def parse_components(text: str) -> list[tuple[str, int]]:
    """ "SKU-A x1; SKU-B x2" -> [("SKU-A", 1), ("SKU-B", 2)] (a missing "xN" is one unit).
    ValidationError names the part it cannot read."""
    found: list[tuple[str, int]] = []
    for raw in (text or "").split(";"):
        part = raw.strip()
        if not part:
            continue
        match = _PART.match(part)
        if match is None or not match.group("sku").strip():
            raise ValidationError(
                f"Cannot read “{part}”: write SKU x quantity.", field="components"
            )
        quantity = int(match.group("qty") or 1)
        if not 1 <= quantity <= MAX_COMPONENT_QUANTITY:
            raise ValidationError(
                f"“{part}”: units per bundle go from 1 to {MAX_COMPONENT_QUANTITY}.",
                field="components",
            )
        found.append((match.group("sku").strip(), quantity))
    return found


def format_components(parts: Sequence[tuple[str, int]]) -> str:
    """The CSV's spelling of a bundle's components."""
    return "; ".join(f"{sku} x{quantity}" for sku, quantity in parts)


def variants_by_sku(skus: Iterable[str]) -> dict[str, Variant]:
    wanted = sorted({s for s in skus if s})
    if not wanted:
        return {}
    return {v.sku: v for v in db.session.scalars(select(Variant).where(Variant.sku.in_(wanted)))}


def _check(bundle: Variant, components: Sequence[tuple[Any, Any]]) -> list[tuple[int, int]]:
    """The components as given, checked: each a real variant, not the bundle itself, not a
    bundle, no repeats, a whole quantity from 1 (a row of quantity 0 is left out); the bundle
    not itself a component. Errors name the row: ("components", n, "variant_id" or
    "quantity")."""
    if len(components) > MAX_COMPONENTS * 3:
        raise ValidationError(
            f"A bundle has at most {MAX_COMPONENTS} components.", field="components"
        )
    ids = [int(c) for c, _ in components if isinstance(c, int) or str(c).isdigit()]
    known = {v.id: v for v in db.session.scalars(select(Variant).where(Variant.id.in_(ids)))}
    nested = set(components_of(ids))
    errors: dict[Any, list[str]] = {}
    seen: set[int] = set()
    clean: list[tuple[int, int]] = []
    for index, (component_id, quantity) in enumerate(components):
        if quantity == 0 or quantity is None:
            continue  # a row left empty, or set to 0 to take the component out
        at = ("components", index, "variant_id")
        variant = known.get(int(component_id)) if str(component_id).isdigit() else None
        if variant is None:
            errors[at] = ["Choose an existing variant."]
        elif variant.id == bundle.id:
            errors[at] = ["A bundle cannot contain itself."]
        elif variant.id in nested:
            errors[at] = [f"{variant.sku or variant.title} is a bundle itself; add its parts."]
        elif variant.id in seen:
            errors[at] = [f"{variant.sku or variant.title} is listed twice; set one quantity."]
        elif (
            not isinstance(quantity, int)
            or isinstance(quantity, bool)
            or not 1 <= quantity <= MAX_COMPONENT_QUANTITY
        ):
            errors[("components", index, "quantity")] = [
                f"Enter a whole quantity from 1 to {MAX_COMPONENT_QUANTITY}."
            ]
        else:
            seen.add(variant.id)
            clean.append((variant.id, quantity))
    if errors:
        raise ValidationError("Some components cannot be used.", errors=errors)
    if len(clean) > MAX_COMPONENTS:
        raise ValidationError(
            f"A bundle has at most {MAX_COMPONENTS} components.", field="components"
        )
    if clean and bundles_containing([bundle.id]):
        raise ValidationError(
            "This variant is a component of another bundle, so it cannot be a bundle itself.",
            field="components",
        )
    return clean


@service
def set_bundle_components(
    bundle: Variant, components: Sequence[tuple[Any, Any]], *, by: Any
) -> list[BundleComponent]:
    """Make `bundle` a bundle of these (variant id, units per bundle), replacing what it had
    (a row of 0 units is left out); none makes it a plain variant again. Placed orders keep
    what they sold (their lines' snapshot). Audited in SKUs and quantities."""
    clean = _check(bundle, components)
    before = _spelled(bundle.id)
    db.session.execute(
        delete(BundleComponent).where(BundleComponent.bundle_variant_id == bundle.id)
    )
    rows = [
        BundleComponent(
            bundle_variant_id=bundle.id,
            component_variant_id=component_id,
            quantity=quantity,
            position=position,
        )
        for position, (component_id, quantity) in enumerate(clean, start=1)
    ]
    db.session.add_all(rows)
    db.session.flush()
    after = _spelled(bundle.id)
    if before != after:
        from commerce.catalog.services import product_changed  # services import this module

        product_changed(bundle.product)
        audit.record(
            by,
            "variant.bundle",
            bundle,
            before={"components": before},
            after={"components": after},
        )
    return rows


def _spelled(bundle_id: int) -> str:
    parts = components_of([bundle_id]).get(bundle_id, [])
    skus = dict(
        db.session.execute(
            select(Variant.id, Variant.sku).where(Variant.id.in_([c for c, _ in parts]))
        ).all()
    )
    return format_components([(skus.get(c) or f"variant {c}", q) for c, q in parts])


def refuse_if_component(variant_ids: Iterable[int]) -> None:
    """Deleting a variant that bundles are made of would change what they sell: Conflict,
    naming the bundles, until it is taken out of them."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return
    rows = db.session.execute(
        select(Variant.sku, Product.title)
        .join(BundleComponent, BundleComponent.bundle_variant_id == Variant.id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            BundleComponent.component_variant_id.in_(ids),
            BundleComponent.bundle_variant_id.not_in(ids),
        )
        .distinct()
        .limit(5)
    ).all()
    if rows:
        names = ", ".join(sku or title for sku, title in rows)
        raise Conflict(f"Part of the bundle(s) {names}: take it out of them first.")


def find_components(query: str, *, exclude: int, limit: int = 20) -> list[tuple[Variant, str]]:
    """The bundle builder's picker: variants whose SKU or product title holds `query` (with
    their product's title), bundles and `exclude` (the bundle being built) left out."""
    text = (query or "").strip()[:100]
    if not text:
        return []
    pattern = f"%{text.replace('%', '').replace('_', '')}%"
    is_bundle = select(BundleComponent.id).where(BundleComponent.bundle_variant_id == Variant.id)
    rows = db.session.execute(
        select(Variant, Product.title)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.id != exclude,
            ~is_bundle.exists(),
            (Variant.sku.ilike(pattern)) | (Product.title.ilike(pattern)),
        )
        .order_by(Product.title, Variant.position, Variant.id)
        .limit(limit)
    ).all()
    return [(variant, title) for variant, title in rows]


def describe_variants(variant_ids: Iterable[int]) -> dict[int, str]:
    """ "SKU · Product - options" per variant, as the builder's rows name them (one query)."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return {}
    found = {}
    for variant, title in db.session.execute(
        select(Variant, Product.title)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(ids))
    ).all():
        name = title if variant.title == "Default Title" else f"{title} - {variant.title}"
        found[variant.id] = f"{variant.sku or 'No SKU'} · {name}"
    return found
