"""Gift cards, store credit, their ledgers, and the tenders that spend them on orders.

A balance is an int in minor units of its currency, guarded by a CHECK (balance >= 0) and moved
only by one conditional UPDATE per change (`balance = balance - :amt WHERE balance >= :amt`),
each change leaving a ledger row (kind, signed amount, balance after), like the stock ledger.

A gift card's code is not stored in the clear: only its SHA-256 (codes carry 80 random bits,
so a plain hash is enough) and its last four characters for display. A card bought in the shop
keeps its code sealed (DATA_KEYS) from the payment until the buyer's email with it has gone
(the email is sent after commit, by a worker); then the sealed copy is dropped.

A Tender is a gift card or a customer's store credit applied to a checkout (`reference` is the
checkout's): applied (amount 0, nothing taken yet), held (its amount taken from the balance
while the order is being placed), redeemed (on the order). A failed placement releases it to
applied again; refunds count what went back in `refunded`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db
from commerce.sealed import Sealed

# GiftCard.status
ACTIVE, DEACTIVATED, EXPIRED = "active", "deactivated", "expired"
CARD_STATUSES = (ACTIVE, DEACTIVATED, EXPIRED)
# Ledger kinds (gift cards and store credit)
ISSUE, REDEEM, RELEASE, REFUND, ADJUST, EXPIRE = (
    "issue",
    "redeem",
    "release",
    "refund",
    "adjust",
    "expire",
)
LEDGER_KINDS = (ISSUE, REDEEM, RELEASE, REFUND, ADJUST, EXPIRE)
# Tender.kind and status
GIFT_CARD, STORE_CREDIT = "gift_card", "store_credit"
APPLIED, HELD, REDEEMED = "applied", "held", "redeemed"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class GiftCard(db.Model):
    __tablename__ = "gift_card"
    audit_type = "gift_card"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("initial_amount >= 0", name="initial_not_negative"),
        CheckConstraint(f"status IN {_in(CARD_STATUSES)}", name="status_known"),
        # One card per unit of a gift card line: issuing again finds it.
        UniqueConstraint("order_line_id", "unit"),
        Index("ix_gift_card_created", "created_at", "id"),
        Index("ix_gift_card_status", "status", "expires_at"),
        Index("ix_gift_card_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3))
    initial_amount: Mapped[int]
    balance: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default=ACTIVE)
    expires_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")
    recipient_email: Mapped[str] = mapped_column(String(255), default="")
    issued_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    # Bought in the shop: the order line (and which of its units) it was issued for.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_line.id", ondelete="SET NULL")
    )
    unit: Mapped[int | None]
    emailed_at: Mapped[datetime | None]  # the buyer's email with the code went
    code_sealed: Mapped[str | None] = mapped_column(Sealed())  # until emailed_at, then NULL
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    entries: Mapped[list[GiftCardEntry]] = relationship(
        back_populates="gift_card", order_by="GiftCardEntry.id.desc()", viewonly=True
    )

    @property
    def masked_code(self) -> str:
        return f"•••• {self.last4}"

    @property
    def audit_label(self) -> str:
        return f"Gift card {self.masked_code}"


class GiftCardEntry(db.Model):
    """One change of a gift card's balance: `amount` signed, `balance_after` as it left it."""

    __tablename__ = "gift_card_entry"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(LEDGER_KINDS)}", name="kind_known"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_gift_card_entry_card", "gift_card_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_card_id: Mapped[int] = mapped_column(ForeignKey("gift_card.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int]
    balance_after: Mapped[int]
    reference: Mapped[str] = mapped_column(String(120), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    # A refund's credit is booked once however often step 3 runs.
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    gift_card: Mapped[GiftCard] = relationship(back_populates="entries")


class StoreCredit(db.Model):
    """A customer's store credit: one balance per customer, in the shop's currency."""

    __tablename__ = "store_credit"
    audit_type = "store_credit"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), unique=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def audit_label(self) -> str:
        return f"Store credit of customer {self.customer_id}"


class StoreCreditEntry(db.Model):
    __tablename__ = "store_credit_entry"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(LEDGER_KINDS)}", name="kind_known"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_store_credit_entry_credit", "store_credit_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_credit_id: Mapped[int] = mapped_column(ForeignKey("store_credit.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int]
    balance_after: Mapped[int]
    reference: Mapped[str] = mapped_column(String(120), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tender(db.Model):
    """A gift card or store credit paying (part of) a checkout and then its order."""

    __tablename__ = "tender"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in((GIFT_CARD, STORE_CREDIT))}", name="kind_known"),
        CheckConstraint(f"status IN {_in((APPLIED, HELD, REDEEMED))}", name="status_known"),
        CheckConstraint("amount >= 0 AND refunded >= 0 AND refunded <= amount", name="amounts"),
        UniqueConstraint("reference", "gift_card_id"),
        UniqueConstraint("reference", "store_credit_id"),
        Index("ix_tender_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    gift_card_id: Mapped[int | None] = mapped_column(ForeignKey("gift_card.id", ondelete="CASCADE"))
    store_credit_id: Mapped[int | None] = mapped_column(
        ForeignKey("store_credit.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20), default=APPLIED)
    amount: Mapped[int] = mapped_column(default=0)
    refunded: Mapped[int] = mapped_column(default=0)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    gift_card: Mapped[GiftCard | None] = relationship()

    @property
    def label(self) -> str:
        """As invoices and the checkout say it."""
        if self.kind == GIFT_CARD and self.gift_card is not None:
            return f"Gift card {self.gift_card.masked_code}"
        return "Store credit"
