"""Carts and checkouts.

A Cart is addressed by an unguessable token (a guest carries it in a signed cookie) or belongs to
a customer. Entering checkout copies the cart's lines into a Checkout and reserves their stock
under `checkout.reference`; the checkout's `key` is the idempotency key of place_order: the
UNIQUE `shop_order.checkout_key` and the status claim (open -> placing) make a double click,
a retry or a concurrent duplicate end in one order and one charge.

Two more guards live in the database: a cart has at most one live (open or placing)
checkout, so a new checkout of the same cart must first settle the one being placed, and a
claim carries a fencing token (`claim_token`) that the order's own transaction must still
match, so a process that lost its claim (presumed dead, then taken over) cannot complete it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

# Checkout.status
OPEN = "open"  # being filled in; the reservation is (or was) held
PLACING = "placing"  # a place_order call owns it right now
COMPLETED = "completed"  # the order exists: checkout.order_id
ABANDONED = "abandoned"  # replaced by a newer checkout of the same cart
LIVE_CONDITION = "status IN ('open', 'placing')"


class Cart(db.Model):
    __tablename__ = "cart"
    __table_args__ = (Index("ix_cart_updated", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # A signed-in customer's cart; NULL for guests. Unique: one cart per customer.
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), unique=True
    )
    # The abandoned checkout a recovery link restored this cart from (commerce.abandoned):
    # the cart's next checkout starts prefilled from it, then this is cleared. No foreign
    # key: checkout already references cart.
    recovered_checkout_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", order_by="CartLine.id", cascade="all, delete-orphan"
    )

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def line_pairs(self) -> list[tuple[int, int]]:
        return [(line.variant_id, line.quantity) for line in self.lines]


class CartLine(db.Model):
    __tablename__ = "cart_line"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("cart.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    cart: Mapped[Cart] = relationship(back_populates="lines")


class Checkout(db.Model):
    __tablename__ = "checkout"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'placing', 'completed', 'abandoned')", name="status_known"
        ),
        Index("ix_checkout_cart", "cart_id", "status"),
        # Abandoned checkout recovery (commerce.abandoned): open ones by age, a shopper's by email.
        Index("ix_checkout_status_updated", "status", "updated_at"),
        Index("ix_checkout_email", "email"),
        # One live checkout per cart: a new one first settles (or waits for) the one placing.
        Index(
            "ux_checkout_live_cart",
            "cart_id",
            unique=True,
            postgresql_where=text(LIVE_CONDITION),
            sqlite_where=text(LIVE_CONDITION),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("cart.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    lines: Mapped[list[list[int]]] = mapped_column(JSON, default=list)  # [[variant_id, qty]]
    # A draft order's custom lines (commerce.checkout.custom_lines); the shop never sets them.
    custom_lines: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    email: Mapped[str] = mapped_column(String(255), default="")
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shipping_method_code: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    placing_since: Mapped[datetime | None]
    # The fencing token of the current claim: set with each claim, checked by the order's
    # transaction, so only the claim's owner can complete the checkout.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    reserved_until: Mapped[datetime | None]
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id", ondelete="SET NULL"))
    payment_attempts: Mapped[int] = mapped_column(default=0)  # part of the payment's key
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    # The shopper agreed to a reminder email if they leave (asked when the shop requires it;
    # commerce.abandoned reads it).
    recovery_consent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    REFERENCE_PREFIX = "checkout:"

    @property
    def reference(self) -> str:
        """What its stock reservation and payments are filed under."""
        return f"{self.REFERENCE_PREFIX}{self.key}"

    def line_pairs(self) -> list[tuple[int, int]]:
        return [(int(v), int(q)) for v, q in self.lines]
