"""Promotion reads for the console: the list, the names rows refer to, the item picker and a
promotion's coupon codes. Nothing here changes data.

The list is one query for its rows (the code count is a correlated subquery), one count, one
usage query for the page (commerce.promotions.services.usage), the page's rows loaded in two
queries and their names in at most four: a fixed number whatever the page size. It pages with
keyset cursors over (sort key, id). The status filter is derived from the schedule at `now`
with the same rule as Promotion.status_at (draft and paused as chosen; an enabled promotion is
expired from its end, scheduled before its start, active in between).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import selectinload

from commerce.catalog.models import Category, Collection, Product, ProductTag, Variant
from commerce.db import utcnow
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.money import format_money
from commerce.paging import keyset_page
from commerce.promotions import rules as r
from commerce.promotions.active import normalize_code
from commerce.promotions.models import (
    ACTIVE,
    DRAFT,
    ENABLED,
    EXPIRED,
    PAUSED,
    SCHEDULED,
    STATUSES,
    CouponCode,
    Promotion,
)
from commerce.promotions.services import Usage, usage
from commerce.promotions.summary import Names

# Open ends sort as the earliest / latest moments (a NULL start is "as soon as enabled").
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(9999, 12, 31)
PROMOTION_SORTS: dict[str, tuple[Any, str]] = {
    "updated": (Promotion.updated_at, "Last changed"),
    "name": (func.lower(Promotion.name), "Name"),
    "starts": (func.coalesce(Promotion.starts_at, EARLIEST), "Start"),
    "ends": (func.coalesce(Promotion.ends_at, LATEST), "End"),
    "priority": (Promotion.priority, "Priority"),
    "used": (Promotion.times_used, "Uses"),
}
DEFAULT_SORT = "updated"
DATE_SORTS = ("updated", "starts", "ends")


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionFilter:
    """Text matches the name, or a coupon code by its beginning; statuses are derived ones;
    has_code None means either."""

    q: str = ""
    statuses: tuple[str, ...] = ()
    has_code: bool | None = None
    sort: str = DEFAULT_SORT
    direction: str = "desc"

    def normalized(self) -> PromotionFilter:
        return replace(
            self,
            q=" ".join((self.q or "").split())[:200],
            statuses=tuple(dict.fromkeys(s for s in self.statuses if s in STATUSES)),
            sort=self.sort if self.sort in PROMOTION_SORTS else DEFAULT_SORT,
            direction=self.direction if self.direction in ("asc", "desc") else "desc",
        )

    def is_filtered(self) -> bool:
        return bool(self.q or self.statuses or self.has_code is not None)


def status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    """SQL for "the derived status is `status` at `now`" (see models.derive_status)."""
    ended = and_(Promotion.ends_at.is_not(None), Promotion.ends_at <= now)
    if status in (DRAFT, PAUSED):
        return Promotion.state == status
    enabled = Promotion.state == ENABLED
    if status == EXPIRED:
        return and_(enabled, ended)
    not_started = and_(Promotion.starts_at.is_not(None), Promotion.starts_at > now)
    if status == SCHEDULED:
        return and_(enabled, ~ended, not_started)
    if status == ACTIVE:
        return and_(enabled, ~ended, ~not_started)
    raise ValueError(f"unknown status {status!r}")


def _has_code() -> Any:
    return exists().where(CouponCode.promotion_id == Promotion.id)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def promotion_conditions(flt: PromotionFilter, now: datetime) -> list[ColumnElement[bool]]:
    flt = flt.normalized()
    where: list[ColumnElement[bool]] = []
    if flt.q:
        by_name = func.lower(Promotion.name).like(_like(flt.q.lower()), escape="\\")
        code = normalize_code(flt.q).replace("\\", "").replace("%", "").replace("_", "\\_")
        by_code = exists().where(
            CouponCode.promotion_id == Promotion.id,
            CouponCode.code.like(f"{code}%", escape="\\"),
        )
        where.append(or_(by_name, by_code))
    if flt.statuses:
        where.append(or_(*(status_condition(s, now) for s in flt.statuses)))
    if flt.has_code is True:
        where.append(_has_code())
    elif flt.has_code is False:
        where.append(~_has_code())
    return where


@dataclass
class PromotionRow:
    promotion: Promotion
    status: str
    code_count: int
    usage: Usage

    @property
    def id(self) -> int:
        return self.promotion.id


@dataclass
class Page:
    items: list[PromotionRow]
    total: int = 0
    next_cursor: str | None = None
    prev_cursor: str | None = None
    names: Names = field(default_factory=Names)


def _parse_key(sort: str, value: Any) -> Any:
    if sort in DATE_SORTS:
        return datetime.fromisoformat(str(value))
    if sort in ("priority", "used"):
        return int(value)
    return str(value)


def _key_of(promotion: Promotion, sort: str) -> Any:
    if sort == "name":
        return promotion.name.lower()
    if sort == "starts":
        return promotion.starts_at or EARLIEST
    if sort == "ends":
        return promotion.ends_at or LATEST
    return getattr(promotion, {"updated": "updated_at", "used": "times_used"}.get(sort, sort))


def list_promotions(
    flt: PromotionFilter,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> Page:
    """One page of promotions with their derived status, code count and usage figures."""
    flt = flt.normalized()
    now = now or utcnow()
    where = promotion_conditions(flt, now)
    key = PROMOTION_SORTS[flt.sort][0]
    codes = (
        select(func.count(CouponCode.id))
        .where(CouponCode.promotion_id == Promotion.id)
        .correlate(Promotion)
        .scalar_subquery()
    )
    stmt = (
        select(Promotion, codes.label("code_count"))
        .where(*where)
        .options(selectinload(Promotion.conditions), selectinload(Promotion.actions))
    )
    keyset = keyset_page(
        stmt,
        key,
        Promotion.id,
        descending=flt.direction == "desc",
        after=after,
        before=before,
        limit=limit,
        parse=lambda value: _parse_key(flt.sort, value),
    )
    rows = keyset.rows
    figures = usage([promotion.id for promotion, _ in rows])
    items = [
        PromotionRow(
            promotion, promotion.status_at(now), int(count or 0), figures.get(promotion.id, Usage())
        )
        for promotion, count in rows
    ]
    total = db.session.scalar(select(func.count()).select_from(Promotion).where(*where)) or 0
    page = Page(items=items, total=int(total), names=reference_names(r.promotion for r in items))
    page.next_cursor, page.prev_cursor = keyset.cursors(
        items, lambda row: (_key_of(row.promotion, flt.sort), row.promotion.id)
    )
    return page


def status_counts(now: datetime | None = None) -> dict[str, int]:
    """How many promotions have each derived status (for the filter's labels). One query."""
    now = now or utcnow()
    columns = [
        func.coalesce(func.sum(case((status_condition(s, now), 1), else_=0)), 0).label(s)
        for s in STATUSES
    ]
    row = db.session.execute(select(*columns).select_from(Promotion)).one()
    return {s: int(row._mapping[s] or 0) for s in STATUSES}


# -- names of what rows refer to ----------------------------------------------------------------


def _selector_ids(selector: Any, found: dict[str, set[int]]) -> None:
    if not isinstance(selector, Mapping):
        return
    for key in r.SELECTOR_KEYS:
        base = key.removeprefix("exclude_")
        if base == "tags":
            continue
        values = selector.get(key) or ()
        if isinstance(values, str | int):
            values = str(values).replace(",", " ").split()
        for value in values:
            if str(value).strip().isdigit():
                found[base].add(int(value))


def referenced_ids(rows: Iterable[Any]) -> dict[str, set[int]]:
    """The product, variant, category and collection ids condition/action rows name."""
    found: dict[str, set[int]] = {
        k: set() for k in ("products", "variants", "categories", "collections")
    }
    for row in rows:
        params = row.get("params") if isinstance(row, Mapping) else getattr(row, "params", None)
        if not isinstance(params, Mapping):
            continue
        for name in ("items", "buy_items", "get_items"):
            _selector_ids(params.get(name), found)
        gift = params.get("variant_id")
        if gift is not None and str(gift).strip().isdigit():
            found["variants"].add(int(gift))
    return found


def variant_label(product_title: str, variant: Variant) -> str:
    return f"{product_title} — {variant.title}" if variant.option_values else product_title


def names_for(ids: Mapping[str, Iterable[int]]) -> Names:
    """Display names for ids (one query per kind that has any)."""
    products = sorted(ids.get("products") or ())
    variants = sorted(ids.get("variants") or ())
    categories = sorted(ids.get("categories") or ())
    collections = sorted(ids.get("collections") or ())
    names = Names(
        products=dict(
            db.session.execute(
                select(Product.id, Product.title).where(Product.id.in_(products))
            ).all()
        )
        if products
        else {},
        categories=dict(
            db.session.execute(
                select(Category.id, Category.name).where(Category.id.in_(categories))
            ).all()
        )
        if categories
        else {},
        collections=dict(
            db.session.execute(
                select(Collection.id, Collection.title).where(Collection.id.in_(collections))
            ).all()
        )
        if collections
        else {},
        variants={
            variant.id: variant_label(title, variant)
            for variant, title in db.session.execute(
                select(Variant, Product.title).join(Product).where(Variant.id.in_(variants))
            ).all()
        }
        if variants
        else {},
    )
    return names


def reference_names(promotions: Iterable[Promotion]) -> Names:
    """Names for everything the promotions' rows refer to."""
    rows: list[Any] = []
    for promotion in promotions:
        rows.extend(promotion.conditions)
        rows.extend(promotion.actions)
    return names_for(referenced_ids(rows))


def row_names(rows: Iterable[Any]) -> Names:
    return names_for(referenced_ids(rows))


# -- the item picker ----------------------------------------------------------------------------

PRODUCT, VARIANT, CATEGORY, COLLECTION, TAG = "product", "variant", "category", "collection", "tag"
PICK_KINDS = (PRODUCT, VARIANT, CATEGORY, COLLECTION, TAG)
# picker kind -> the selector list it fills
SELECTOR_LIST = {
    PRODUCT: "products",
    VARIANT: "variants",
    CATEGORY: "categories",
    COLLECTION: "collections",
    TAG: "tags",
}


@dataclass(frozen=True)
class Pick:
    kind: str
    value: str  # the id (or the tag itself)
    label: str
    detail: str = ""


def find_items(query: str, *, kinds: Sequence[str] = PICK_KINDS, limit: int = 6) -> list[Pick]:
    """What a picker offers for typed text: categories, collections, products (title, handle
    or SKU), variants (SKU, barcode or product title) and tags, at most `limit` of each."""
    text = " ".join((query or "").split())[:100]
    if not text:
        return []
    like = _like(text.lower())
    found: list[Pick] = []
    if CATEGORY in kinds:
        for c in db.session.scalars(
            select(Category)
            .where(
                or_(
                    func.lower(Category.name).like(like, escape="\\"),
                    func.lower(Category.full_name).like(like, escape="\\"),
                )
            )
            .order_by(Category.full_name, Category.id)
            .limit(limit)
        ):
            found.append(Pick(CATEGORY, str(c.id), c.full_name or c.name, "category"))
    if COLLECTION in kinds:
        for c in db.session.scalars(
            select(Collection)
            .where(func.lower(Collection.title).like(like, escape="\\"))
            .order_by(Collection.title, Collection.id)
            .limit(limit)
        ):
            found.append(Pick(COLLECTION, str(c.id), c.title, "collection"))
    if PRODUCT in kinds:
        sku = exists().where(
            Variant.product_id == Product.id, func.lower(Variant.sku).like(f"{text.lower()}%")
        )
        for p in db.session.scalars(
            select(Product)
            .where(
                or_(
                    func.lower(Product.title).like(like, escape="\\"),
                    func.lower(Product.handle).like(like, escape="\\"),
                    sku,
                )
            )
            .order_by(Product.title, Product.id)
            .limit(limit)
        ):
            found.append(Pick(PRODUCT, str(p.id), p.title, f"product · {p.status}"))
    if VARIANT in kinds:
        for variant, title in db.session.execute(
            select(Variant, Product.title)
            .join(Product)
            .where(
                or_(
                    func.lower(Variant.sku).like(f"{text.lower()}%"),
                    Variant.barcode == text,
                    func.lower(Product.title).like(like, escape="\\"),
                )
            )
            .order_by(Product.title, Variant.position, Variant.id)
            .limit(limit * 2)
        ):
            price = format_money(variant.price, variant.currency)
            detail = " · ".join(x for x in (variant.sku or "", price) if x)
            found.append(Pick(VARIANT, str(variant.id), variant_label(title, variant), detail))
    if TAG in kinds:
        for tag in db.session.scalars(
            select(ProductTag.tag)
            .where(ProductTag.tag.like(f"{text.lower().replace('%', '')}%"))
            .group_by(ProductTag.tag)
            .order_by(ProductTag.tag)
            .limit(limit)
        ):
            found.append(Pick(TAG, tag, tag, "tag"))
    return found


def pick_labels(kind: str, values: Iterable[str]) -> dict[str, str]:
    """Labels for chosen values of one kind (to show chips again after a re-render)."""
    ids = {int(v) for v in values if str(v).isdigit()}
    if kind == TAG:
        return {str(v): str(v) for v in values}
    names = names_for({SELECTOR_LIST[kind]: ids})
    table = {
        PRODUCT: names.products,
        VARIANT: names.variants,
        CATEGORY: names.categories,
        COLLECTION: names.collections,
    }[kind]
    return {str(k): v for k, v in table.items()}


# -- coupon codes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    label: str
    count: int
    used: int
    created_at: datetime


@dataclass
class CodeSummary:
    total: int
    used: int
    recent: list[CouponCode]
    batches: list[Batch]


def code_summary(promotion_id: int, *, recent: int = 20) -> CodeSummary:
    """Counts, the generated batches and the latest single codes of one promotion."""
    total, used = db.session.execute(
        select(func.count(CouponCode.id), func.coalesce(func.sum(CouponCode.times_used), 0)).where(
            CouponCode.promotion_id == promotion_id
        )
    ).one()
    batches = [
        Batch(label, int(count), int(used_), created)
        for label, count, used_, created in db.session.execute(
            select(
                CouponCode.batch,
                func.count(CouponCode.id),
                func.coalesce(func.sum(CouponCode.times_used), 0),
                func.min(CouponCode.created_at),
            )
            .where(CouponCode.promotion_id == promotion_id, CouponCode.batch != "")
            .group_by(CouponCode.batch)
            .order_by(func.min(CouponCode.created_at).desc())
        ).all()
    ]
    codes = list(
        db.session.scalars(
            select(CouponCode)
            .where(CouponCode.promotion_id == promotion_id, CouponCode.batch == "")
            .order_by(CouponCode.id.desc())
            .limit(recent)
        )
    )
    return CodeSummary(int(total or 0), int(used or 0), codes, batches)


def coupon_codes(promotion_id: int) -> list[str]:
    """Up to two codes (the summary names a promotion's code when it has exactly one)."""
    return list(
        db.session.scalars(
            select(CouponCode.code)
            .where(CouponCode.promotion_id == promotion_id)
            .order_by(CouponCode.id)
            .limit(2)
        )
    )


def get_coupon_code(promotion_id: int, code_id: int) -> CouponCode:
    coupon = db.session.get(CouponCode, code_id)
    if coupon is None or coupon.promotion_id != promotion_id:
        raise NotFound("No such coupon code.")
    return coupon
