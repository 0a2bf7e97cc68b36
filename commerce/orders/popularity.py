"""Best sellers: units sold per product in the last POPULARITY_DAYS days.

One definition serves every reader: the search documents' `popularity`, and the shop's
"best selling" collection order (an outer join usable in ORDER BY). Cancelled orders and
refunded units do not count; units still count once shipped or returned without a refund,
because the shopper did buy them.

The query is driven by the orders' `placed_at` index (then order lines by order), so it
costs the last 30 days of sales, not the whole order history; order lines carry no index by
product, so it is never evaluated per product.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.sql.elements import ColumnElement

from commerce.catalog.models import Product
from commerce.db import utcnow
from commerce.extensions import db
from commerce.orders.models import CANCELLED, Order, OrderLine

POPULARITY_DAYS = 30


def window_start(now: datetime | None = None) -> datetime:
    """The first moment that still counts (naive UTC, as the database keeps it)."""
    return (now or utcnow()) - timedelta(days=POPULARITY_DAYS)


def units_sold(*, now: datetime | None = None) -> Select[Any]:
    """`(product_id, units)` for every product sold in the window, one row per product.

    Narrow it with `.where(OrderLine.product_id.in_(ids))`, or use it as a subquery."""
    return (
        select(
            OrderLine.product_id.label("product_id"),
            func.sum(OrderLine.quantity - OrderLine.refunded_quantity).label("units"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.placed_at >= window_start(now),
            Order.status != CANCELLED,
            OrderLine.product_id.is_not(None),
        )
        .group_by(OrderLine.product_id)
    )


def popularity(product_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, int]:
    """Units sold per product among `product_ids` (products without sales are left out)."""
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        return {}
    return {
        pid: max(int(units or 0), 0)
        for pid, units in db.session.execute(
            units_sold(now=now).where(OrderLine.product_id.in_(ids))
        )
    }


def with_units_sold(
    stmt: Select[Any], *, now: datetime | None = None
) -> tuple[Select[Any], ColumnElement[int]]:
    """Outer-join the window's sales to a select of products, for ORDER BY.

    Returns the statement and the units column (0 for a product that did not sell)."""
    sold = units_sold(now=now).subquery("units_sold")
    joined = stmt.outerjoin(sold, sold.c.product_id == Product.id)
    return joined, func.coalesce(sold.c.units, 0)
