"""Rankings over a period: top products, top collections, promotions and their codes.

Each ranking is one grouped statement over the order lines (or redemptions) of orders placed
in the period, in the shop currency and not cancelled, with the previous period's figures for
the same rows in the same statement (the two periods are buckets 0 and 1 of a VALUES list), so
a page is a fixed number of statements at any number of orders. Figures are minor units:
gross = items at their selling price, discounts = what promotions took off them,
net = gross - discounts (refunds are counted in the sales report, by the day they were paid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal, select, union_all

from commerce.catalog.models import Collection, CollectionProduct, Product, Variant
from commerce.catalog.taxonomy import collection_condition
from commerce.extensions import db
from commerce.orders.models import CANCELLED, Order, OrderLine
from commerce.promotions.models import REDEEMED, Promotion, Redemption
from commerce.reports.periods import Bucket, Change, Period, bucket_table
from commerce.reports.sales import shop_currency

TOP = 20
DELETED_PRODUCTS = "Custom items and products deleted since"  # order lines with no product
MAX_RULE_COLLECTIONS = 200  # one SELECT each in the membership list (SQLite: 500 at most)


@dataclass
class Ranked:
    """One product, collection, promotion or code with this period's and the last one's
    figures."""

    id: int | None
    name: str
    units: int = 0  # units sold (products, collections); uses (promotions, codes)
    orders: int | None = 0  # None: not counted (collections)
    gross: int = 0
    discounts: int = 0
    sales: int = 0  # promotions and codes: the totals of the orders they were used on
    previous_units: int = 0
    previous_gross: int = 0
    previous_discounts: int = 0
    previous_sales: int = 0
    # Products only: the units sold valued at their average unit cost when each order was
    # placed (order_line.unit_cost; older lines at the variant's cost today), and how many of
    # the units sold have no cost to value them at.
    cost: int | None = None
    uncosted_units: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.discounts

    @property
    def margin(self) -> int | None:
        """Net sales less the cost of the units sold, when every unit sold has a cost."""
        if self.cost is None or self.uncosted_units:
            return None
        return self.net - self.cost

    @property
    def previous_net(self) -> int:
        return self.previous_gross - self.previous_discounts

    def change(self, figure: str) -> Change:
        return Change(getattr(self, figure), getattr(self, f"previous_{figure}"))


@dataclass
class Ranking:
    period: Period
    previous: Period
    currency: str
    rows: list[Ranked]


def _two_periods(period: Period) -> tuple[Period, Any]:
    previous = period.previous()
    return previous, bucket_table(
        [
            Bucket(0, period.start, period.end, period.first, period.last),
            Bucket(1, previous.start, previous.end, previous.first, previous.last),
        ]
    )


def _split(n: Any, value: Any) -> tuple[Any, Any]:
    """`value` summed for this period (bucket 0) and for the previous one (bucket 1)."""
    return (
        func.coalesce(func.sum(case((n == 0, value), else_=0)), 0),
        func.coalesce(func.sum(case((n == 1, value), else_=0)), 0),
    )


def _placed_in(buckets: Any) -> Any:
    return and_(
        Order.placed_at >= buckets.c.starts,
        Order.placed_at < buckets.c.ends,
        Order.status != CANCELLED,
        Order.currency == shop_currency(),
    )


def top_products(period: Period, *, limit: int = TOP) -> Ranking:
    """Products by net sales in the period (ties: units), with last period's figures. The
    lines are summed from an index alone (ix_order_line_sales), then only the top rows get
    their titles; lines of products deleted since are summed together as one row."""
    previous, buckets = _two_periods(period)
    n = buckets.c.n
    units, previous_units = _split(n, OrderLine.quantity)
    gross, previous_gross = _split(n, OrderLine.amount)
    discounts, previous_discounts = _split(n, OrderLine.discount)
    orders = func.count(func.distinct(case((n == 0, Order.id))))
    # A line's unit cost as placed; lines placed before costs were kept: the variant's today.
    unit_cost = func.coalesce(OrderLine.unit_cost, Variant.cost)
    cost = func.coalesce(
        func.sum(case((n == 0, OrderLine.quantity * func.coalesce(unit_cost, 0)), else_=0)), 0
    )
    uncosted = func.coalesce(
        func.sum(case(((n == 0) & unit_cost.is_(None), OrderLine.quantity), else_=0)), 0
    )
    top = (
        select(
            OrderLine.product_id.label("product_id"),
            units.label("units"),
            orders.label("orders"),
            gross.label("gross"),
            discounts.label("discounts"),
            previous_units.label("previous_units"),
            previous_gross.label("previous_gross"),
            previous_discounts.label("previous_discounts"),
            cost.label("cost"),
            uncosted.label("uncosted"),
        )
        .select_from(buckets)
        .join(Order, _placed_in(buckets))
        .join(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(Variant, Variant.id == OrderLine.variant_id)
        .group_by(OrderLine.product_id)
        .having(units > 0)
        .order_by((gross - discounts).desc(), units.desc(), OrderLine.product_id)
        .limit(limit)
        .subquery("top")
    )
    stmt = (
        select(top, Product.title)
        .outerjoin(Product, Product.id == top.c.product_id)
        .order_by((top.c.gross - top.c.discounts).desc(), top.c.units.desc(), top.c.product_id)
    )
    rows = [
        Ranked(
            pid,
            title or DELETED_PRODUCTS,
            int(u),
            int(o),
            int(g),
            int(d),
            0,
            int(pu),
            int(pg),
            int(pd),
            cost=int(c),
            uncosted_units=int(uc),
        )
        for pid, u, o, g, d, pu, pg, pd, c, uc, title in db.session.execute(stmt)
    ]
    return Ranking(period, previous, shop_currency(), rows)


def _memberships() -> Any:
    """(collection_id, product_id) for every collection: the hand-picked ones' rows, and one
    SELECT per rule-based collection over the products its rules match now."""
    manual = select(
        CollectionProduct.collection_id.label("collection_id"),
        CollectionProduct.product_id.label("product_id"),
    )
    ruled = db.session.scalars(
        select(Collection)
        .where(Collection.kind == "rule")
        .order_by(Collection.id)
        .limit(MAX_RULE_COLLECTIONS)
    ).all()
    parts = [manual] + [
        select(literal(c.id, Integer).label("collection_id"), Product.id.label("product_id")).where(
            collection_condition(c)
        )
        for c in ruled
    ]
    return (
        union_all(*parts).subquery("membership")
        if len(parts) > 1
        else manual.subquery("membership")
    )


def top_collections(period: Period, *, limit: int = TOP) -> Ranking:
    """Collections by the net sales of their products (as the collections stand today: a
    product in two collections counts in both). The lines are summed per product first (at
    most one row per product), then per collection, so the database never joins every line
    ever sold to the memberships. Orders are not counted (one order buying two products of a
    collection would count twice). Two statements: the rule-based collections, the ranking."""
    previous, buckets = _two_periods(period)
    n = buckets.c.n
    members = _memberships()
    per_product = (
        select(
            OrderLine.product_id.label("product_id"),
            *(
                column.label(name)
                for name, column in zip(
                    ("units", "previous_units", "gross", "previous_gross"),
                    (*_split(n, OrderLine.quantity), *_split(n, OrderLine.amount)),
                    strict=True,
                )
            ),
            *(
                column.label(name)
                for name, column in zip(
                    ("discounts", "previous_discounts"), _split(n, OrderLine.discount), strict=True
                )
            ),
        )
        .select_from(buckets)
        .join(Order, _placed_in(buckets))
        .join(OrderLine, OrderLine.order_id == Order.id)
        .group_by(OrderLine.product_id)
        .subquery("per_product")
    )
    p = per_product.c
    units = func.sum(p.units)
    net = func.sum(p.gross) - func.sum(p.discounts)
    stmt = (
        select(
            Collection.id,
            Collection.title,
            units,
            func.sum(p.gross),
            func.sum(p.discounts),
            func.sum(p.previous_units),
            func.sum(p.previous_gross),
            func.sum(p.previous_discounts),
        )
        .select_from(per_product)
        .join(members, members.c.product_id == p.product_id)
        .join(Collection, Collection.id == members.c.collection_id)
        .group_by(Collection.id, Collection.title)
        .having(units > 0)
        .order_by(net.desc(), units.desc(), Collection.id)
        .limit(limit)
    )
    rows = [
        Ranked(cid, title, int(u), None, int(g), int(d), 0, int(pu), int(pg), int(pd))
        for cid, title, u, g, d, pu, pg, pd in db.session.execute(stmt)
    ]
    return Ranking(period, previous, shop_currency(), rows)


def products_and_collections(period: Period) -> tuple[Ranking, Ranking]:
    """The products report: top products and top collections."""
    return top_products(period), top_collections(period)


def promotions_and_codes(period: Period) -> tuple[Ranking, Ranking]:
    """The promotions report: promotions, then the coupon codes."""
    return promotion_performance(period), code_performance(period)


def promotion_performance(period: Period, *, limit: int = TOP) -> Ranking:
    """Promotions by discount given on orders placed in the period: uses (orders that carry
    the promotion), discount given, and sales (those orders' totals; an order with two
    promotions counts under both)."""
    return _redemptions(period, by_code=False, limit=limit)


def code_performance(period: Period, *, limit: int = TOP) -> Ranking:
    """Coupon codes the same way (a promotion without a code is not listed here)."""
    return _redemptions(period, by_code=True, limit=limit)


def _redemptions(period: Period, *, by_code: bool, limit: int) -> Ranking:
    previous, buckets = _two_periods(period)
    n = buckets.c.n
    uses, previous_uses = _split(n, 1)
    given, previous_given = _split(n, Redemption.amount)
    sales, previous_sales = _split(n, Order.total)
    key = (Redemption.code,) if by_code else (Promotion.id,)
    stmt = (
        select(
            Promotion.id,
            Redemption.code if by_code else Promotion.name,
            func.max(Promotion.name) if by_code else literal(""),
            uses,
            given,
            sales,
            previous_uses,
            previous_given,
            previous_sales,
        )
        .select_from(buckets)
        .join(Order, _placed_in(buckets))
        .join(Redemption, and_(Redemption.order_id == Order.id, Redemption.status == REDEEMED))
        .join(Promotion, Promotion.id == Redemption.promotion_id)
        .group_by(*key, Promotion.id, Redemption.code if by_code else Promotion.name)
        .having(uses > 0)
        .order_by(given.desc(), uses.desc(), *key)
        .limit(limit)
    )
    if by_code:
        stmt = stmt.where(Redemption.code != "")
    rows = []
    for pid, name, promotion, u, g, s, pu, pg, ps in db.session.execute(stmt):
        label = f"{name} ({promotion})" if by_code else name
        rows.append(
            Ranked(
                pid,
                label,
                units=int(u),
                orders=int(u),
                discounts=int(g),
                sales=int(s),
                previous_units=int(pu),
                previous_discounts=int(pg),
                previous_sales=int(ps),
            )
        )
    return Ranking(period, previous, shop_currency(), rows)
