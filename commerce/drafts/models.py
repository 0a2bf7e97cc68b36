"""Draft orders: an order support builds for a customer (taken by phone or email) before it is
paid.

A draft is not an Order: it takes an order number only when it is completed, so the number
sequence has no gaps for drafts never paid. Its lines, address, shipping method, discount and
code are priced by the shop's own pipeline (commerce.pricing.price_cart) under the reference of
its checkout, `checkout:<checkout_key>`: the checkout the customer pays through (made when the
invoice is sent or stock is reserved) carries the same key, so the shop prices it the same way
and the UNIQUE `shop_order.checkout_key` makes the pay link and "mark as paid" end in one order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db

# DraftOrder.status
OPEN, INVOICED, COMPLETED = "open", "invoiced", "completed"
DRAFT_STATUSES = (OPEN, INVOICED, COMPLETED)
STATUS_LABELS = {OPEN: "Open", INVOICED: "Invoice sent", COMPLETED: "Completed"}
# DraftOrder.discount_kind
NO_DISCOUNT, AMOUNT_OFF, PERCENT_OFF = "", "amount", "percent"

# A draft's checkout key starts with this (the shop's keys are token_urlsafe: never a dot).
KEY_PREFIX = "draft."


class DraftOrder(db.Model):
    __tablename__ = "draft_order"
    audit_type = "draft_order"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'invoiced', 'completed')", name="status_known"),
        CheckConstraint("discount_kind IN ('', 'amount', 'percent')", name="discount_kind_known"),
        CheckConstraint("discount_value >= 0", name="discount_value_positive"),
        Index("ix_draft_order_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    # The key of the checkout it is paid through (and of its order): unique, unguessable.
    checkout_key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(255), default="")
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shipping_method_code: Mapped[str] = mapped_column(String(40), default="")
    lines: Mapped[list[list[int]]] = mapped_column(JSON, default=list)  # [[variant_id, qty]]
    # Custom items (no catalog variant): [{"key", "title", "unit_price", "quantity", "taxable",
    # "requires_shipping"}], priced from their own price, never holding stock.
    custom_lines: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    coupon_code: Mapped[str] = mapped_column(String(64), default="")
    discount_kind: Mapped[str] = mapped_column(String(10), default=NO_DISCOUNT)
    discount_value: Mapped[int] = mapped_column(default=0)  # minor units, or whole percent
    discount_reason: Mapped[str] = mapped_column(String(120), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # The current pay link's nonce (signed into the link with the app's secret): sending the
    # invoice again or completing the draft replaces or clears it, so older links stop working.
    pay_nonce: Mapped[str | None] = mapped_column(String(32))
    invoice_sent_at: Mapped[datetime | None]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    @property
    def name(self) -> str:
        return f"D{self.id}"

    @property
    def audit_label(self) -> str:
        return f"Draft {self.name}"

    @property
    def reference(self) -> str:
        """What its checkout's stock holds and promotion uses are filed under."""
        return f"checkout:{self.checkout_key}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def item_count(self) -> int:
        """Units on the draft: catalog items and custom items."""
        custom = sum(int(row.get("quantity") or 0) for row in self.custom_lines or [])
        return sum(int(q) for _, q in self.lines) + custom

    def line_pairs(self) -> list[tuple[int, int]]:
        return [(int(v), int(q)) for v, q in self.lines]
