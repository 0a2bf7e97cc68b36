"""Payments: one Payment per authorization, a log of every provider call, and received webhooks.

Amounts are int minor units in the payment's currency. `refunded_amount` counts refunds that
succeeded *and* refunds in flight (reserved before the provider is called, released if it
fails), so the CHECKs below hold at every instant and two refunds can never exceed the capture.
No card number or CVC is ever stored: brand, last four digits and expiry only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

# Payment statuses. "pending", "capturing" and "voiding" mean a provider call is in flight.
PENDING = "pending"  # authorize (or confirm) sent, answer not recorded yet
REQUIRES_ACTION = "requires_action"  # the customer must complete a challenge (3-D Secure)
AUTHORIZED = "authorized"  # funds held until expires_at
CAPTURING = "capturing"
CAPTURED = "captured"  # captured_amount may be below authorized_amount (partial capture)
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"
VOIDING = "voiding"
VOIDED = "voided"
FAILED = "failed"  # declined or errored; the idempotency key is released for a retry
EXPIRED = "expired"  # the authorization lapsed before capture
PAYMENT_STATUSES = (
    PENDING,
    REQUIRES_ACTION,
    AUTHORIZED,
    CAPTURING,
    CAPTURED,
    PARTIALLY_REFUNDED,
    REFUNDED,
    VOIDING,
    VOIDED,
    FAILED,
    EXPIRED,
)
REFUNDABLE = (CAPTURED, PARTIALLY_REFUNDED, REFUNDED)
MANUAL = "manual"  # Payment.provider of money received outside the shop (manual.py)

# Provider-call kinds and their outcomes.
AUTHORIZE, CONFIRM, CAPTURE, VOID, REFUND = "authorize", "confirm", "capture", "void", "refund"
TX_PENDING, TX_SUCCEEDED, TX_FAILED, TX_REQUIRES_ACTION = (
    "pending",
    "succeeded",
    "failed",
    "requires_action",
)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Payment(db.Model):
    __tablename__ = "payment"
    audit_type = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "authorized_amount >= 0 AND authorized_amount <= amount", name="authorized_in_range"
        ),
        CheckConstraint(
            "captured_amount >= 0 AND captured_amount <= authorized_amount",
            name="captured_within_authorized",
        ),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= captured_amount",
            name="refunded_within_captured",
        ),
        CheckConstraint(f"status IN {_in(PAYMENT_STATUSES)}", name="status_known"),
        Index("ix_payment_reference", "reference", "id"),
        Index("ix_payment_provider_reference", "provider", "provider_reference"),
        Index("ix_payment_expiry", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120))  # the checkout or order it pays for
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    authorized_amount: Mapped[int] = mapped_column(default=0)
    captured_amount: Mapped[int] = mapped_column(default=0)
    refunded_amount: Mapped[int] = mapped_column(default=0)
    provider: Mapped[str] = mapped_column(String(40))
    provider_reference: Mapped[str | None] = mapped_column(String(120))
    card_brand: Mapped[str] = mapped_column(String(20), default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    card_exp_month: Mapped[int | None]
    card_exp_year: Mapped[int | None]
    action_token: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[datetime | None]
    # Unique while the payment is in flight or succeeded; cleared when it fails (see services).
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    request_key: Mapped[str] = mapped_column(String(120), default="")  # the key as asked, kept
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    transactions: Mapped[list[PaymentTransaction]] = relationship(
        back_populates="payment", order_by="PaymentTransaction.id", lazy="selectin"
    )

    @property
    def audit_label(self) -> str:
        return f"Payment {self.id} for {self.reference}"

    @property
    def is_manual(self) -> bool:
        """Received outside the shop (bank transfer, cash): refunds are paid back by hand."""
        return self.provider == MANUAL

    @property
    def how_paid(self) -> str:
        """What staff wrote when they recorded a manual payment ("Bank transfer, ref 42")."""
        capture = next((tx for tx in self.transactions if tx.kind == CAPTURE), None)
        return capture.message if capture is not None else ""

    @property
    def refundable_amount(self) -> int:
        return self.captured_amount - self.refunded_amount if self.status in REFUNDABLE else 0


class PaymentTransaction(db.Model):
    """One provider call: what was asked, what came back. Written pending before the call."""

    __tablename__ = "payment_transaction"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            f"kind IN {_in((AUTHORIZE, CONFIRM, CAPTURE, VOID, REFUND))}", name="kind_known"
        ),
        CheckConstraint(
            f"status IN {_in((TX_PENDING, TX_SUCCEEDED, TX_FAILED, TX_REQUIRES_ACTION))}",
            name="status_known",
        ),
        Index("ix_payment_transaction_payment", "payment_id", "id"),
        Index("ix_payment_transaction_pending", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20), default=TX_PENDING)
    amount: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    provider_reference: Mapped[str | None] = mapped_column(String(120))
    error_code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    # Unique while pending or succeeded; a failure clears it so the same key may be retried.
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    request_key: Mapped[str] = mapped_column(String(120), default="")
    # The key this call was sent to the provider with (one per call, recorded before the call),
    # so the provider can be asked what it did when the answer was lost.
    provider_key: Mapped[str | None] = mapped_column(String(200))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    payment: Mapped[Payment] = relationship(back_populates="transactions", lazy="joined")


class PaymentEvent(db.Model):
    """A verified provider webhook, stored once per event id: a redelivery is a no-op."""

    __tablename__ = "payment_event"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_payment_event_payment", "payment_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(60))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(20))  # applied / ignored
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
