"""Reorder suggestions, and the draft purchase orders they become in one step.

A variant is suggested when its available units (active locations) are below its low-stock
threshold. Its sales velocity is the units ordered in the last 30 days (the allocations placed
orders made, cancelled ones left out). The suggested quantity covers the supplier's lead time
plus REVIEW_DAYS of that velocity, and refills up to the threshold, less what is already
incoming on open POs:

    suggested = threshold + ceil(velocity * (lead_time_days + REVIEW_DAYS) / 30)
                - available - incoming            (shown only when above zero)

Without a preferred supplier the lead time is taken as 0 and the row says to choose one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select

from commerce.catalog.models import ARCHIVED, Product, Variant
from commerce.db import service, utcnow
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.inventory.models import CANCELLED, Allocation, Location, StockLevel
from commerce.inventory.services import MAX_QUANTITY, default_location
from commerce.purchasing.models import (
    OPEN_STATUSES,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierVariant,
)
from commerce.purchasing.services import create_purchase_order

VELOCITY_DAYS = 30
REVIEW_DAYS = 30
MAX_SUGGESTIONS = 200


@dataclass(frozen=True)
class Suggestion:
    variant_id: int
    sku: str
    title: str
    available: int
    threshold: int
    sold_30_days: int
    incoming: int
    supplier_id: int | None
    supplier_name: str
    lead_time_days: int
    unit_cost: int | None
    currency: str | None
    suggested: int


def suggested_quantity(
    *, threshold: int, available: int, incoming: int, sold_30_days: int, lead_time_days: int
) -> int:
    """The rule in the module's docstring (exact integers; ceil by negated floor division)."""
    cover = -((-sold_30_days * (lead_time_days + REVIEW_DAYS)) // VELOCITY_DAYS)
    return max(threshold + cover - available - incoming, 0)


def reorder_suggestions(*, supplier_id: int | None = None) -> list[Suggestion]:
    """Variants below their threshold, lowest against their threshold first (at most 200)."""
    default = int(current_app.config["LOW_STOCK_THRESHOLD"])
    available = (
        select(
            StockLevel.variant_id.label("variant_id"),
            func.sum(StockLevel.available).label("units"),
        )
        .join(Location, Location.id == StockLevel.location_id)
        .where(Location.is_active.is_(True))
        .group_by(StockLevel.variant_id)
        .subquery()
    )
    sold = (
        select(
            Allocation.variant_id.label("variant_id"),
            func.sum(Allocation.quantity).label("units"),
        )
        .where(
            Allocation.created_at >= utcnow() - timedelta(days=VELOCITY_DAYS),
            Allocation.status != CANCELLED,
        )
        .group_by(Allocation.variant_id)
        .subquery()
    )
    incoming = (
        select(
            PurchaseOrderLine.variant_id.label("variant_id"),
            func.sum(PurchaseOrderLine.quantity - PurchaseOrderLine.received).label("units"),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrder.status.in_(OPEN_STATUSES),
            PurchaseOrderLine.quantity > PurchaseOrderLine.received,
        )
        .group_by(PurchaseOrderLine.variant_id)
        .subquery()
    )
    threshold = func.coalesce(Variant.low_stock_threshold, default)
    units = func.coalesce(available.c.units, 0)
    query = (
        select(
            Variant.id,
            Variant.sku,
            Product.title,
            Variant.option1,
            Variant.option2,
            Variant.option3,
            units,
            threshold,
            func.coalesce(sold.c.units, 0),
            func.coalesce(incoming.c.units, 0),
            Supplier.id,
            Supplier.name,
            Supplier.lead_time_days,
            SupplierVariant.unit_cost,
            Supplier.currency,
            Variant.cost,
            Variant.currency,
        )
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(available, available.c.variant_id == Variant.id)
        .outerjoin(sold, sold.c.variant_id == Variant.id)
        .outerjoin(incoming, incoming.c.variant_id == Variant.id)
        .outerjoin(SupplierVariant, SupplierVariant.variant_id == Variant.id)
        .outerjoin(Supplier, Supplier.id == SupplierVariant.supplier_id)
        .where(Product.status != ARCHIVED, units < threshold)
        .order_by(units - threshold, Variant.id)
        .limit(MAX_SUGGESTIONS)
    )
    if supplier_id:
        query = query.where(SupplierVariant.supplier_id == supplier_id)
    found = []
    for row in db.session.execute(query).all():
        (vid, sku, title, o1, o2, o3, avail, thr, sold_units, inc, sid, sname, lead, link_cost,
         scur, vcost, vcur) = row  # fmt: skip
        lead_time = int(lead or 0)
        quantity = suggested_quantity(
            threshold=int(thr),
            available=int(avail),
            incoming=int(inc),
            sold_30_days=int(sold_units),
            lead_time_days=lead_time,
        )
        if quantity <= 0:
            continue
        cost = link_cost if link_cost is not None else (vcost if scur == vcur else None)
        options = " / ".join(v for v in (o1, o2, o3) if v)
        found.append(
            Suggestion(
                variant_id=int(vid),
                sku=sku or "",
                title=f"{title} · {options}" if options else title,
                available=int(avail),
                threshold=int(thr),
                sold_30_days=int(sold_units),
                incoming=int(inc),
                supplier_id=sid,
                supplier_name=sname or "",
                lead_time_days=lead_time,
                unit_cost=cost,
                currency=scur,
                suggested=min(quantity, MAX_QUANTITY),
            )
        )
    return found


@service
def draft_reorder_purchase_orders(
    lines: Sequence[tuple[int, int]], *, by: Any, location_id: int | None = None
) -> list[PurchaseOrder]:
    """One draft PO per preferred supplier for (variant id, quantity) pairs, at each
    supplier's agreed cost (or the variant's average cost in the same currency), expected
    after the supplier's lead time. Every variant needs a preferred supplier."""
    picked = [(int(v), int(q)) for v, q in lines if int(q) > 0]
    if not picked:
        raise ValidationError("Pick at least one variant with a quantity.", field="lines")
    links = {
        link.variant_id: link
        for link in db.session.scalars(
            select(SupplierVariant).where(SupplierVariant.variant_id.in_([v for v, _ in picked]))
        )
    }
    errors: dict[Any, list[str]] = {}
    for index, (variant_id, quantity) in enumerate(picked):
        if variant_id not in links:
            errors[("lines", index)] = ["Choose a preferred supplier for this variant first."]
        elif quantity > MAX_QUANTITY:
            errors[("lines", index)] = ["That is more units than one line can order."]
    if errors:
        raise ValidationError("Some lines cannot be ordered yet.", errors=errors)
    location = location_id or default_location().id
    costs = dict(
        db.session.execute(
            select(Variant.id, case((Variant.cost.is_(None), None), else_=Variant.cost)).where(
                Variant.id.in_([v for v, _ in picked])
            )
        ).all()
    )
    currencies = dict(
        db.session.execute(
            select(Variant.id, Variant.currency).where(Variant.id.in_([v for v, _ in picked]))
        ).all()
    )
    per_supplier: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for variant_id, quantity in picked:
        link = links[variant_id]
        cost = link.unit_cost
        if cost is None and currencies.get(variant_id) == link.supplier.currency:
            cost = costs.get(variant_id)
        per_supplier[link.supplier_id].append((variant_id, quantity, int(cost or 0)))
    orders = []
    for supplier_id, supplier_lines in sorted(per_supplier.items()):
        supplier = db.session.get(Supplier, supplier_id)
        assert supplier is not None
        orders.append(
            create_purchase_order(
                by=by,
                supplier_id=supplier_id,
                location_id=location,
                expected_on=date.today() + timedelta(days=supplier.lead_time_days),
                note="Drafted from the reorder suggestions.",
                lines=supplier_lines,
            )
        )
    return orders
