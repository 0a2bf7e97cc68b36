"""Orders: a snapshot of what was bought, at what price, shipped where, and its timeline.

An order copies everything it needs (titles, SKUs, prices, discounts, taxes, addresses) at
placement, so later catalog edits never change what a customer was charged for. Amounts are
int minor units of `currency`. Three statuses move independently (as merchants think of them):
`status` (open / cancelled / closed), `payment_status` and `fulfillment_status`; every change
goes through orders.services and leaves an OrderEvent on the timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

# Order.status
OPEN, CANCELLED, CLOSED = "open", "cancelled", "closed"
ORDER_STATUSES = (OPEN, CANCELLED, CLOSED)
# Order.payment_status
AUTHORIZED, PAID, PARTIALLY_REFUNDED, REFUNDED, VOIDED = (
    "authorized",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
)
PAYMENT_STATUSES = (AUTHORIZED, PAID, PARTIALLY_REFUNDED, REFUNDED, VOIDED)
# Order.fulfillment_status
UNFULFILLED, PARTIALLY_FULFILLED, FULFILLED = "unfulfilled", "partially_fulfilled", "fulfilled"
FULFILLMENT_STATUSES = (UNFULFILLED, PARTIALLY_FULFILLED, FULFILLED)

ORDER_NUMBER_OFFSET = 1000  # the first order is #1001, as shoppers expect


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Order(db.Model):
    __tablename__ = "shop_order"  # "order" is an SQL keyword
    audit_type = "order"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(ORDER_STATUSES)}", name="status_known"),
        CheckConstraint(f"payment_status IN {_in(PAYMENT_STATUSES)}", name="payment_status_known"),
        CheckConstraint(
            f"fulfillment_status IN {_in(FULFILLMENT_STATUSES)}", name="fulfillment_status_known"
        ),
        CheckConstraint("total >= 0 AND subtotal >= 0 AND tax_total >= 0", name="totals_valid"),
        Index("ix_shop_order_placed", "placed_at", "id"),
        Index("ix_shop_order_customer", "customer_id", "placed_at"),
        Index("ix_shop_order_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int | None] = mapped_column(unique=True)  # id + ORDER_NUMBER_OFFSET
    # The checkout it came from: unique, so one checkout can never make two orders.
    checkout_key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    prices_include_tax: Mapped[bool] = mapped_column(default=False)
    subtotal: Mapped[int]
    discount_total: Mapped[int] = mapped_column(default=0)
    shipping_total: Mapped[int] = mapped_column(default=0)
    tax_total: Mapped[int] = mapped_column(default=0)
    total: Mapped[int]
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shipping_method_code: Mapped[str] = mapped_column(String(40))
    shipping_method_name: Mapped[str] = mapped_column(String(120))
    shipping_tax: Mapped[int] = mapped_column(default=0)
    tax_name: Mapped[str] = mapped_column(String(80), default="")
    tax_rate_bps: Mapped[int] = mapped_column(default=0)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    payment_status: Mapped[str] = mapped_column(String(20), default=AUTHORIZED)
    fulfillment_status: Mapped[str] = mapped_column(String(20), default=UNFULFILLED)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"#{self.number}" if self.number else f"order {self.id}"

    @property
    def reference(self) -> str:
        """What stock allocations and payments for this order are filed under."""
        return f"order:{self.number}"

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


class OrderLine(db.Model):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("discount >= 0 AND discount <= amount", name="discount_within_amount"),
        Index("ix_order_line_order", "order_id", "id"),
        Index("ix_order_line_variant", "variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    # The catalog rows may be deleted later; the snapshot below stays.
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variant.id", ondelete="SET NULL"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(400))
    sku: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_price: Mapped[int]
    compare_at_price: Mapped[int | None]
    amount: Mapped[int]  # unit_price * quantity
    discount: Mapped[int] = mapped_column(default=0)
    tax: Mapped[int] = mapped_column(default=0)
    tax_rate_bps: Mapped[int] = mapped_column(default=0)
    weight_grams: Mapped[int] = mapped_column(default=0)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def discounted_amount(self) -> int:
        return self.amount - self.discount


class OrderEvent(db.Model):
    """The order's timeline: every transition and note, with who did it."""

    __tablename__ = "order_event"
    __table_args__ = (Index("ix_order_event_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")
