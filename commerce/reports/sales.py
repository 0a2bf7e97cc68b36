"""Sales over time, orders and average order value, refunds by reason.

Definitions (README "Reports" says the same to merchants), all in the shop currency's minor
units, over orders placed in the shop currency and not cancelled (a cancelled order was never
a sale; its refund is left out with it):

- gross sales: what the items sold for before discounts (the orders' subtotals);
- discounts: what promotions and codes took off the items;
- refunds: money given back in the period (succeeded refunds, by the day they were paid out,
  shipping and tax refunded included), whenever the order was placed;
- net sales = gross sales - discounts - refunds;
- average order value = (gross sales - discounts) / orders.

Each report is a couple of grouped statements however many orders there are: the rows are
joined to the period's buckets (`periods.bucket_table`, the current period's and the previous
one's together) and summed by the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, func, select

from commerce.extensions import db
from commerce.orders.models import CANCELLED, REFUND_SUCCEEDED, Order, Refund
from commerce.reports.periods import Bucket, Change, Period, bucket_table

NO_REASON = "No reason given"
MAX_REASONS = 50


def shop_currency() -> str:
    return str(current_app.config["SHOP_CURRENCY"])


@dataclass
class SalesRow:
    """One bucket's figures."""

    label: str
    first: str  # the bucket's first day, ISO (the CSV's column)
    orders: int = 0
    gross: int = 0
    discounts: int = 0
    refunds: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.discounts - self.refunds

    @property
    def average_order(self) -> int:
        """(gross - discounts) / orders, rounded half up to a minor unit; 0 without orders."""
        if not self.orders:
            return 0
        return (2 * (self.gross - self.discounts) + self.orders) // (2 * self.orders)


FIGURES = ("orders", "gross", "discounts", "refunds", "net", "average_order")
FIGURE_LABELS = {
    "orders": "Orders",
    "gross": "Gross sales",
    "discounts": "Discounts",
    "refunds": "Refunds",
    "net": "Net sales",
    "average_order": "Average order value",
}


@dataclass
class SalesReport:
    period: Period
    previous: Period
    bucket: str
    currency: str
    rows: list[SalesRow]
    previous_rows: list[SalesRow]
    total: SalesRow = field(init=False)
    previous_total: SalesRow = field(init=False)

    def __post_init__(self) -> None:
        self.total = _sum_rows(self.rows, "Total")
        self.previous_total = _sum_rows(self.previous_rows, "Previous period")

    def change(self, figure: str) -> Change:
        return Change(getattr(self.total, figure), getattr(self.previous_total, figure))

    def series(self, figure: str) -> tuple[list[int], list[int]]:
        """The figure per bucket, this period's and the previous one's."""
        return (
            [getattr(r, figure) for r in self.rows],
            [getattr(r, figure) for r in self.previous_rows],
        )


def _sum_rows(rows: list[SalesRow], label: str) -> SalesRow:
    total = SalesRow(label, rows[0].first if rows else "")
    for row in rows:
        total.orders += row.orders
        total.gross += row.gross
        total.discounts += row.discounts
        total.refunds += row.refunds
    return total


def sales_over_time(period: Period, bucket: str) -> SalesReport:
    """The period and the one before it, bucket by bucket: two statements."""
    previous = period.previous()
    current_buckets = period.buckets(bucket)
    previous_buckets = [
        Bucket(b.index + len(current_buckets), b.start, b.end, b.first, b.last, b.hour)
        for b in previous.buckets(bucket)
    ]
    every = [*current_buckets, *previous_buckets]
    rows = {b.index: SalesRow(b.label(bucket), b.first.isoformat() + _hour(b)) for b in every}
    currency = shop_currency()
    buckets = bucket_table(every)
    live = and_(Order.status != CANCELLED, Order.currency == currency)
    placed = db.session.execute(
        select(
            buckets.c.n,
            func.count(Order.id),
            func.coalesce(func.sum(Order.subtotal), 0),
            func.coalesce(func.sum(Order.discount_total), 0),
        )
        .select_from(buckets)
        .join(
            Order,
            and_(Order.placed_at >= buckets.c.starts, Order.placed_at < buckets.c.ends, live),
        )
        .group_by(buckets.c.n)
    )
    for n, orders, gross, discounts in placed:
        row = rows[int(n)]
        row.orders, row.gross, row.discounts = int(orders), int(gross), int(discounts)
    refunded = db.session.execute(
        select(buckets.c.n, func.coalesce(func.sum(Refund.amount), 0))
        .select_from(buckets)
        .join(
            Refund,
            and_(
                Refund.completed_at >= buckets.c.starts,
                Refund.completed_at < buckets.c.ends,
                Refund.status == REFUND_SUCCEEDED,
                Refund.currency == currency,
            ),
        )
        .join(Order, and_(Order.id == Refund.order_id, Order.status != CANCELLED))
        .group_by(buckets.c.n)
    )
    for n, amount in refunded:
        rows[int(n)].refunds = int(amount)
    return SalesReport(
        period,
        previous,
        bucket,
        currency,
        [rows[b.index] for b in current_buckets],
        [rows[b.index] for b in previous_buckets],
    )


def _hour(bucket: Bucket) -> str:
    return f" {bucket.hour:02d}:00" if bucket.hour is not None else ""


# -- refunds by reason --------------------------------------------------------------------------


@dataclass
class ReasonRow:
    reason: str
    refunds: int
    amount: int
    previous_refunds: int = 0
    previous_amount: int = 0

    @property
    def change(self) -> Change:
        return Change(self.amount, self.previous_amount)


@dataclass
class RefundReport:
    period: Period
    previous: Period
    currency: str
    rows: list[ReasonRow]

    @property
    def total(self) -> Change:
        return Change(sum(r.amount for r in self.rows), sum(r.previous_amount for r in self.rows))

    @property
    def count(self) -> Change:
        return Change(sum(r.refunds for r in self.rows), sum(r.previous_refunds for r in self.rows))


def refunds_by_reason(period: Period) -> RefundReport:
    """Succeeded refunds paid out in the period (cancelled orders' included: why money went
    back), grouped by their reason as typed (case and outer spaces aside), largest first, with
    the previous period's figures for the same reasons. One statement."""
    previous = period.previous()
    currency = shop_currency()
    buckets = bucket_table(
        [
            Bucket(0, period.start, period.end, period.first, period.last),
            Bucket(1, previous.start, previous.end, previous.first, previous.last),
        ]
    )
    key = func.lower(func.trim(Refund.reason))
    result = db.session.execute(
        select(
            buckets.c.n,
            key,
            func.min(func.trim(Refund.reason)),
            func.count(),
            func.sum(Refund.amount),
        )
        .select_from(buckets)
        .join(
            Refund,
            and_(
                Refund.completed_at >= buckets.c.starts,
                Refund.completed_at < buckets.c.ends,
                Refund.status == REFUND_SUCCEEDED,
                Refund.currency == currency,
            ),
        )
        .group_by(buckets.c.n, key)
    )
    rows: dict[str, ReasonRow] = {}
    for n, reason_key, label, count, amount in result:
        row = rows.setdefault(reason_key or "", ReasonRow(label or NO_REASON, 0, 0))
        if int(n) == 0:
            row.refunds, row.amount = int(count), int(amount)
            row.reason = label or NO_REASON
        else:
            row.previous_refunds, row.previous_amount = int(count), int(amount)
    ordered = sorted(rows.values(), key=lambda r: (-r.amount, -r.previous_amount, r.reason))
    return RefundReport(period, previous, currency, ordered[:MAX_REASONS])
