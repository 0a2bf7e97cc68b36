"""Tables of the transfer documents (kept apart from models.py, the stock counters' tables:
these are documents about stock, not stock itself).

A transfer's units leave the origin through the ledger when it ships and arrive at the
destination through the ledger as they are received; between the two they are in transit, a
figure of the transfer's lines (shipped - received - returned - missing), in no stock level.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.models import Location

DRAFT, IN_TRANSIT, PARTLY_RECEIVED, RECEIVED, CANCELLED = (
    "draft",
    "in_transit",
    "partly_received",
    "received",
    "cancelled",
)
TRANSFER_STATUSES = {
    DRAFT: "Draft",
    IN_TRANSIT: "In transit",
    PARTLY_RECEIVED: "Partly received",
    RECEIVED: "Received",
    CANCELLED: "Cancelled",
}
# Statuses whose units are on the road: receipts and a cancellation that returns them apply.
ON_THE_ROAD = (IN_TRANSIT, PARTLY_RECEIVED)


class StockTransfer(db.Model):
    """Units of many variants moving from one location to another."""

    __tablename__ = "stock_transfer"
    audit_type = "transfer"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'in_transit', 'partly_received', 'received', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("origin_id <> destination_id", name="two_locations"),
        Index("ix_stock_transfer_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    origin_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    note: Mapped[str] = mapped_column(Text, default="")
    discrepancy_note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shipped_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    origin: Mapped[Location] = relationship(foreign_keys=[origin_id], lazy="joined")
    destination: Mapped[Location] = relationship(foreign_keys=[destination_id], lazy="joined")
    lines: Mapped[list[StockTransferLine]] = relationship(
        back_populates="transfer", order_by="StockTransferLine.id", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        return f"T-{self.id:05d}"

    @property
    def audit_label(self) -> str:
        return f"{self.number} {self.origin.code} → {self.destination.code}"

    @property
    def status_label(self) -> str:
        return TRANSFER_STATUSES.get(self.status, self.status)


class StockTransferLine(db.Model):
    """One variant on a transfer: planned, shipped, and what became of the shipped units."""

    __tablename__ = "stock_transfer_line"
    __table_args__ = (
        UniqueConstraint("transfer_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "received >= 0 AND returned >= 0 AND missing >= 0", name="outcomes_not_negative"
        ),
        # The last guard against over-receiving: a unit shipped is received, returned or
        # missing at most once.
        CheckConstraint("received + returned + missing <= shipped", name="within_shipped"),
        Index("ix_stock_transfer_line_variant", "variant_id", "transfer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfer.id", ondelete="CASCADE"))
    # A deleted product leaves a draft's lines; shipped ones keep it (its ledger rows do).
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    shipped: Mapped[int] = mapped_column(default=0)
    received: Mapped[int] = mapped_column(default=0)
    returned: Mapped[int] = mapped_column(default=0)
    missing: Mapped[int] = mapped_column(default=0)

    transfer: Mapped[StockTransfer] = relationship(back_populates="lines")
    variant = relationship("Variant", lazy="joined")

    @property
    def in_transit(self) -> int:
        return self.shipped - self.received - self.returned - self.missing


class StockTransferReceipt(db.Model):
    """One booking of received units against a line: its ledger movement and the key that
    makes a retried receipt return the first instead of booking twice."""

    __tablename__ = "stock_transfer_receipt"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_stock_transfer_receipt_line", "line_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfer.id", ondelete="CASCADE"))
    line_id: Mapped[int] = mapped_column(ForeignKey("stock_transfer_line.id", ondelete="CASCADE"))
    movement_id: Mapped[int] = mapped_column(ForeignKey("stock_movement.id", ondelete="RESTRICT"))
    quantity: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    repeated = False  # not a column: set on the receipts that answered a repeated key
