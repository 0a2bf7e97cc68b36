"""The console's reads for draft orders: the list (by status, newest first, a page at a time)
and the variant search beside a draft, with what the shop can sell of each right now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from commerce.catalog.models import ACTIVE, CONTINUE, Product, Variant
from commerce.drafts.models import DRAFT_STATUSES, DraftOrder
from commerce.extensions import db
from commerce.inventory.services import availability

PER_PAGE = 25
SEARCH_LIMIT = 10


@dataclass(frozen=True)
class DraftPage:
    drafts: list[DraftOrder]
    page: int
    has_next: bool
    status: str
    counts: dict[str, int]


def list_drafts(*, status: str = "", page: int = 1) -> DraftPage:
    """Newest first; `status` one of DRAFT_STATUSES or "" for all; with the count per status."""
    status = status if status in DRAFT_STATUSES else ""
    page = max(page, 1)
    query = select(DraftOrder).order_by(DraftOrder.id.desc())
    if status:
        query = query.where(DraftOrder.status == status)
    rows = list(db.session.scalars(query.offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)))
    counts = dict(
        db.session.execute(
            select(DraftOrder.status, func.count(DraftOrder.id)).group_by(DraftOrder.status)
        ).all()
    )
    return DraftPage(rows[:PER_PAGE], page, len(rows) > PER_PAGE, status, counts)


@dataclass(frozen=True)
class VariantHit:
    variant_id: int
    title: str
    sku: str | None
    price: int
    currency: str
    available: int | None  # None: sold beyond stock (no limit)
    can_buy: bool


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_variants(q: str) -> list[VariantHit]:
    """Variants of active products whose product title or SKU contains `q` (two characters
    or more), at most SEARCH_LIMIT, with their live availability (one more query)."""
    q = (q or "").strip().lower()
    if len(q) < 2:
        return []
    pattern = _like(q)
    rows = db.session.execute(
        select(Variant, Product.title)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Product.status == ACTIVE,
            or_(
                func.lower(Product.title).like(pattern, escape="\\"),
                func.lower(Variant.sku).like(pattern, escape="\\"),
            ),
        )
        .order_by(Product.title, Variant.position, Variant.id)
        .limit(SEARCH_LIMIT)
    ).all()
    stock = availability([variant.id for variant, _ in rows])
    hits = []
    for variant, product_title in rows:
        found = stock.get(variant.id)
        beyond = variant.inventory_policy == CONTINUE
        title = product_title if not variant.option_values else f"{product_title} ({variant.title})"
        hits.append(
            VariantHit(
                variant.id,
                title,
                variant.sku,
                variant.price,
                variant.currency,
                None if beyond else (found.available if found is not None else 0),
                beyond or bool(found is not None and found.can_buy),
            )
        )
    return hits


def variant_titles(variant_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Titles and SKUs of a draft's lines, for lines the pricing refuses (archived items)."""
    if not variant_ids:
        return {}
    rows = db.session.execute(
        select(Variant, Product.title)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(variant_ids))
    ).all()
    return {v.id: {"title": t, "sku": v.sku} for v, t in rows}
