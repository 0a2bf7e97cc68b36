"""Orders: a snapshot of what was bought, at what price, shipped where, and its timeline.

An order copies everything it needs (titles, SKUs, prices, discounts, taxes, addresses) at
placement, so later catalog edits never change what a customer was charged for. Amounts are
int minor units of `currency`. Three statuses move independently (as merchants think of them):
`status` (open / completed / cancelled), `payment_status` and `fulfillment_status`; every change
goes through orders.services and leaves an OrderEvent on the timeline.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

# Adjustment scopes as the pricing pipeline writes them into the order's JSON (the names of
# commerce.pricing.models.LINE/GIFT/SHIPPING; not imported, so models stay free of pricing).
LINE_SCOPE, GIFT_SCOPE, SHIPPING_SCOPE = "line", "gift", "shipping"

# Order.status
OPEN, COMPLETED, CANCELLED = "open", "completed", "cancelled"
ORDER_STATUSES = (OPEN, COMPLETED, CANCELLED)
# Order.payment_status
PENDING, AUTHORIZED, PARTIALLY_PAID, PAID = "pending", "authorized", "partially_paid", "paid"
PARTIALLY_REFUNDED, REFUNDED, VOIDED = "partially_refunded", "refunded", "voided"
PAYMENT_STATUSES = (
    PENDING,
    AUTHORIZED,
    PARTIALLY_PAID,
    PAID,
    PARTIALLY_REFUNDED,
    REFUNDED,
    VOIDED,
)
# Order.fulfillment_status
UNFULFILLED, PARTIALLY_FULFILLED, FULFILLED = "unfulfilled", "partially_fulfilled", "fulfilled"
PARTIALLY_RETURNED, RETURNED = "partially_returned", "returned"
FULFILLMENT_STATUSES = (UNFULFILLED, PARTIALLY_FULFILLED, FULFILLED, PARTIALLY_RETURNED, RETURNED)

# Fulfillment.status: picking (pick list printed, not yet gone), shipped, cancelled
PICKING, SHIPPED, FULFILLMENT_CANCELLED = "picking", "shipped", "cancelled"
# Refund.status
REFUND_AWAITING_APPROVAL = "awaiting_approval"  # above the limit: an admin decides
REFUND_PROCESSING = "processing"  # the provider is being asked
REFUND_SUCCEEDED, REFUND_FAILED, REFUND_REJECTED = "succeeded", "failed", "rejected"
# Refund.destination
TO_ORIGINAL, TO_STORE_CREDIT = "original", "store_credit"
# Return.status and what happens to a returned unit
RETURN_OPEN, RETURN_RECEIVED, RETURN_CANCELLED = "open", "received", "cancelled"
RESTOCK, WRITE_OFF = "restock", "write_off"
# Order channels
WEB, CONSOLE = "web", "console"

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
        CheckConstraint(
            "refunded_total >= 0 AND refunded_total <= paid_total", name="refunds_within_paid"
        ),
        Index("ix_shop_order_placed", "placed_at", "id"),
        Index("ix_shop_order_customer", "customer_id", "placed_at"),
        Index("ix_shop_order_email", "email"),
        # Guest buyers in Customers (orders.queries.list_guests): their orders by email.
        Index(
            "ix_shop_order_guest",
            "email",
            "placed_at",
            sqlite_where=text("customer_id IS NULL"),
            postgresql_where=text("customer_id IS NULL"),
        ),
        # The order list's quick search ("contains" in email or name), on PostgreSQL
        # (pg_trgm, migration 0015_console_text; SQLite reads the rows, under 50 ms at 50,000).
        *(
            Index(
                f"ix_shop_order_{column}_trgm",
                func.lower(text(column)).label(column),
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql")
            for column in ("email", "customer_name")
        ),
        # Payments needing attention and the dashboard's counts, at 50,000 orders.
        Index("ix_shop_order_payment_status", "payment_status", "placed_at", "id"),
        Index("ix_shop_order_status_cancelled", "status", "cancelled_at", "id"),
        Index("ix_shop_order_status_fulfillment", "status", "fulfillment_status"),
        # "Paid and unfulfilled": counted from the index alone (migration 0012_console_lists).
        Index(
            "ix_shop_order_payment_fulfillment",
            "payment_status",
            "fulfillment_status",
            "placed_at",
            "id",
        ),
        # Reports (commerce/reports/sales.py): a bucket's orders are one range of it and the
        # figures summed are in it (migration 0029_reports).
        Index(
            "ix_shop_order_sales",
            "currency",
            "placed_at",
            "status",
            "subtotal",
            "discount_total",
            "total",
        ),
        # One order per payment: an authorization can never pay for two orders.
        Index("ux_shop_order_payment", "payment_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int | None] = mapped_column(unique=True)  # id + ORDER_NUMBER_OFFSET
    # The checkout it came from: unique, so one checkout can never make two orders.
    checkout_key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(255))
    customer_name: Mapped[str] = mapped_column(String(120), default="")  # for search
    channel: Mapped[str] = mapped_column(String(20), default=WEB)
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
    # Money actually taken and given back, kept with the payment services' answers.
    paid_total: Mapped[int] = mapped_column(default=0)
    refunded_total: Mapped[int] = mapped_column(default=0)
    # Gift cards were bought: cards are issued when the order is paid (orders/gift_card_sales).
    has_gift_cards: Mapped[bool] = mapped_column(default=False, server_default="0")
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None]
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )

    fulfillments: Mapped[list[Fulfillment]] = relationship(
        back_populates="order", order_by="Fulfillment.id", cascade="all, delete-orphan"
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="order", order_by="Refund.id", cascade="all, delete-orphan"
    )
    returns: Mapped[list[Return]] = relationship(
        back_populates="order", order_by="Return.id", cascade="all, delete-orphan"
    )

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def balance_due(self) -> int:
        """What the customer still owes (after an edit raised the total), or 0."""
        return max(self.total - (self.paid_total - self.refunded_total), 0)

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

    def discounts(self) -> list[tuple[str, int]]:
        """Each discount once with what it took, for invoices and emails: line promotions
        summed over lines by label, then order promotions (whose per-line shares already sit
        inside the line discounts). Shipping discounts are apart: they lower the shipping."""
        totals: dict[str, int] = {}
        for line in self.lines:
            for adj in line.adjustments or []:
                if adj.get("scope") in (LINE_SCOPE, GIFT_SCOPE) and adj.get("amount"):
                    totals[adj["label"]] = totals.get(adj["label"], 0) + int(adj["amount"])
        for adj in self.adjustments or []:
            if adj.get("scope") != SHIPPING_SCOPE and adj.get("amount"):
                totals[adj["label"]] = totals.get(adj["label"], 0) + int(adj["amount"])
        if not totals and self.discount_total:
            totals["Discount"] = self.discount_total
        return list(totals.items())

    @property
    def is_shipped(self) -> bool:
        """Whether the order ships anything: it has a shipping method (or, placed before
        shipping could be skipped, an address). One with nothing to ship (gift cards alone)
        has neither, and its pages, emails and documents show no shipping block."""
        return bool(self.shipping_method_code or self.shipping_address)

    def shipping_discounts(self) -> list[tuple[str, int]]:
        """The promotions that took money off shipping ("Free shipping over $50"), with what
        each took: the shipping total is already net of them."""
        return [
            (adj["label"], int(adj["amount"]))
            for adj in self.adjustments or []
            if adj.get("scope") == SHIPPING_SCOPE and adj.get("amount")
        ]


class OrderLine(db.Model):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("discount >= 0 AND discount <= amount", name="discount_within_amount"),
        CheckConstraint(
            "fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity",
            name="fulfilled_within_quantity",
        ),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name="refunded_within_quantity",
        ),
        CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= fulfilled_quantity",
            name="returned_within_fulfilled",
        ),
        Index("ix_order_line_order", "order_id", "id"),
        Index("ix_order_line_variant", "variant_id"),
        # Reports' rankings sum a period's lines from the index alone (0029_reports).
        Index("ix_order_line_sales", "order_id", "product_id", "quantity", "amount", "discount"),
        # The order list's SKU filter (compared without case).
        Index("ix_order_line_sku", func.lower(text("sku"))),
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
    is_gift_card: Mapped[bool] = mapped_column(default=False, server_default="0")
    # A custom item (a draft order's line that is no catalog variant): no stock moves for it;
    # one that does not ship counts as delivered when the order is written.
    is_custom: Mapped[bool] = mapped_column(default=False, server_default="0")
    requires_shipping: Mapped[bool] = mapped_column(default=True, server_default="1")
    taxable: Mapped[bool] = mapped_column(default=True, server_default="1")  # custom items
    # The average unit cost when the order was placed (a bundle's: its components'), in the
    # order's currency; None when unknown (reports then use the variant's cost today).
    unit_cost: Mapped[int | None]
    # A bundle's components as sold (catalog.bundles.snapshot): [{"variant_id", "quantity"
    # per bundle, "sku", "title"}]; empty for a plain line. Its stock moves by these.
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Progress counters, each moved by a conditional UPDATE in its service (never past quantity).
    fulfilled_quantity: Mapped[int] = mapped_column(default=0)
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    returned_quantity: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def refundable_quantity(self) -> int:
        return self.quantity - self.refunded_quantity

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
    # Comments the customer sees on the order status page; everything else is internal.
    customer_visible: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")


class Fulfillment(db.Model):
    """One parcel from one location: picked from the order's allocations there, then shipped
    (which ships the allocations in the stock ledger)."""

    __tablename__ = "fulfillment"
    __table_args__ = (
        CheckConstraint("status IN ('picking', 'shipped', 'cancelled')", name="status_known"),
        Index("ix_fulfillment_order", "order_id", "id"),
        Index("ix_fulfillment_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default=PICKING)
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(120), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shipped_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="fulfillments")
    lines: Mapped[list[FulfillmentLine]] = relationship(
        back_populates="fulfillment", order_by="FulfillmentLine.id", cascade="all, delete-orphan"
    )

    @property
    def item_count(self) -> int:
        return sum(self.units_by_line().values())

    def units_by_line(self) -> dict[int, int]:
        """Order line id -> units of it in this parcel (bundles counted as bundles)."""
        units: dict[int, Fraction] = {}
        parts: dict[int, int] = {}
        for line in self.lines:
            share = Fraction(line.quantity)
            if line.per_bundle:  # a component's units: a bundle's worth is per_bundle of them
                parts[line.order_line_id] = len(line.order_line.components) or 1
                share = Fraction(line.quantity, line.per_bundle)
            units[line.order_line_id] = units.get(line.order_line_id, Fraction(0)) + share
        return {k: int(v / parts.get(k, 1)) for k, v in units.items()}


class FulfillmentLine(db.Model):
    __tablename__ = "fulfillment_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_fulfillment_line_fulfillment", "fulfillment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfillment_id: Mapped[int] = mapped_column(ForeignKey("fulfillment.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id", ondelete="CASCADE"))
    allocation_id: Mapped[int | None] = mapped_column(
        ForeignKey("allocation.id", ondelete="SET NULL")
    )
    quantity: Mapped[int]  # units of the allocation's variant (a bundle's: of its component)
    # For a bundle line: the component's units per bundle (NULL for a plain line), so the
    # bundles in a parcel are known (each component's units / per bundle, over its components).
    per_bundle: Mapped[int | None]

    fulfillment: Mapped[Fulfillment] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship(lazy="joined")


class Refund(db.Model):
    """Money going back: by line and quantity and/or a free amount (shipping, goodwill).

    `amount` is reserved against the order (and the payment) before the provider is asked, so
    two agents refunding at once can never exceed what was captured; a failed provider call
    gives the reservation back and leaves the refund visible as failed, with a retry."""

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('awaiting_approval', 'processing', 'succeeded', 'failed', 'rejected')",
            name="status_known",
        ),
        Index("ix_refund_order", "order_id", "id"),
        Index("ix_refund_status", "status", "created_at"),
        # Refunds paid out per bucket of a report (migration 0029_reports).
        Index("ix_refund_paid", "status", "currency", "completed_at", "amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id", ondelete="SET NULL"))
    return_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_return.id", ondelete="SET NULL")
    )
    amount: Mapped[int]  # the total: lines + shipping + extra
    currency: Mapped[str] = mapped_column(String(3))
    shipping_amount: Mapped[int] = mapped_column(default=0)
    extra_amount: Mapped[int] = mapped_column(default=0)  # goodwill and other free amounts
    tax_amount: Mapped[int] = mapped_column(default=0)  # the tax inside `amount`, for the note
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=REFUND_PROCESSING)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_reference: Mapped[str | None] = mapped_column(String(120))
    error_message: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Where the money goes: back the way it was paid (gift cards and store credit first, the
    # rest to the card), or all of it as the customer's store credit (commerce/giftcards).
    destination: Mapped[str] = mapped_column(
        String(20), default=TO_ORIGINAL, server_default=TO_ORIGINAL
    )
    # The part going back to the order's gift cards and store credit: [[tender_id, amount]].
    tender_plan: Mapped[list[list[int]]] = mapped_column(JSON, default=list, server_default="[]")

    order: Mapped[Order] = relationship(back_populates="refunds")

    @property
    def tender_amount(self) -> int:
        return sum(part for _, part in self.tender_plan or [])

    lines: Mapped[list[RefundLine]] = relationship(
        back_populates="refund", order_by="RefundLine.id", cascade="all, delete-orphan"
    )

    @property
    def lines_amount(self) -> int:
        return sum(line.amount for line in self.lines)


class RefundLine(db.Model):
    __tablename__ = "refund_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_refund_line_refund", "refund_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    amount: Mapped[int]  # this line's share, tax included where the order charged it
    tax: Mapped[int] = mapped_column(default=0)
    restock: Mapped[bool] = mapped_column(default=False)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id", ondelete="SET NULL"))

    refund: Mapped[Refund] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship(lazy="joined")


class Return(db.Model):
    """A return (RMA): lines the customer sends back; received units are restocked or written
    off through the ledger, and the refund follows on receipt."""

    __tablename__ = "order_return"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'received', 'cancelled')", name="status_known"),
        Index("ix_order_return_order", "order_id", "id"),
        Index("ix_order_return_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=RETURN_OPEN)
    reason: Mapped[str] = mapped_column(Text, default="")
    opened_by_customer: Mapped[bool] = mapped_column(default=False)
    opened_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="returns")
    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="order_return", order_by="ReturnLine.id", cascade="all, delete-orphan"
    )

    @property
    def name(self) -> str:
        return f"RMA-{self.id}"


class ReturnLine(db.Model):
    __tablename__ = "order_return_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity",
            name="received_within_quantity",
        ),
        CheckConstraint(
            "disposition IS NULL OR disposition IN ('restock', 'write_off')",
            name="disposition_known",
        ),
        Index("ix_order_return_line_return", "return_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("order_return.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    received_quantity: Mapped[int] = mapped_column(default=0)
    disposition: Mapped[str | None] = mapped_column(String(20))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id", ondelete="SET NULL"))

    order_return: Mapped[Return] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship(lazy="joined")
