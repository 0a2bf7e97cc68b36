"""Abandoned checkouts and their recovery emails.

A checkout with an email and no order, left longer than the shop's delay, is abandoned (the
checkout's own status "abandoned" means something else: superseded by a newer checkout of the
same cart). What recovery did about one is a `CheckoutRecovery` row: which emails went (each
time is set by one conditional UPDATE, so two workers never send one twice), and the cart its
link restored, by which the orders it brought back are counted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db

FIRST, SECOND = "first", "second"  # the two emails


class RecoverySettings(db.Model):
    """The shop's recovery settings: one row (id 1), made with its defaults when first read."""

    __tablename__ = "recovery_settings"
    audit_type = "setting"

    id: Mapped[int] = mapped_column(primary_key=True)
    abandoned_after_minutes: Mapped[int] = mapped_column(default=60)
    first_email: Mapped[bool] = mapped_column(default=False)
    second_email: Mapped[bool] = mapped_column(default=False)
    second_after_hours: Mapped[int] = mapped_column(default=24)
    require_consent: Mapped[bool] = mapped_column(default=False)
    promotion_code: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return "Abandoned checkout recovery"


class CheckoutRecovery(db.Model):
    __tablename__ = "checkout_recovery"
    __table_args__ = (Index("ix_checkout_recovery_cart", "restored_cart_id"),)

    checkout_id: Mapped[int] = mapped_column(
        ForeignKey("checkout.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(255))
    # Signed into the restore link with the app's secret: the link names this row's nonce.
    nonce: Mapped[str] = mapped_column(String(32))
    first_sent_at: Mapped[datetime | None]
    second_sent_at: Mapped[datetime | None]
    restored_cart_id: Mapped[int | None] = mapped_column(ForeignKey("cart.id", ondelete="SET NULL"))
    restored_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryUnsubscribe(db.Model):
    """An address that asked for no more recovery emails."""

    __tablename__ = "recovery_unsubscribe"

    email: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
