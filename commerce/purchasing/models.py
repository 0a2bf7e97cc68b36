"""Suppliers, the preferred supplier of a variant, purchase orders and their receipts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.models import Location

DRAFT, ORDERED, PARTLY_RECEIVED, RECEIVED, CANCELLED = (
    "draft",
    "ordered",
    "partly_received",
    "received",
    "cancelled",
)
STATUSES = (DRAFT, ORDERED, PARTLY_RECEIVED, RECEIVED, CANCELLED)
STATUS_LABELS = {
    DRAFT: "Draft",
    ORDERED: "Ordered",
    PARTLY_RECEIVED: "Partly received",
    RECEIVED: "Received",
    CANCELLED: "Cancelled",
}
OPEN_STATUSES = (ORDERED, PARTLY_RECEIVED)  # their lines' outstanding units are incoming


class Supplier(db.Model):
    """Who we buy from: contact, how long an order takes to arrive, the currency they bill in."""

    __tablename__ = "supplier"
    __table_args__ = (CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),)
    audit_type = "supplier"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    lead_time_days: Mapped[int] = mapped_column(default=7)
    currency: Mapped[str] = mapped_column(String(3))
    notes: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return self.name


class SupplierVariant(db.Model):
    """A variant's preferred supplier (one per variant), with its code and last agreed cost
    there: where reorder suggestions send the variant."""

    __tablename__ = "supplier_variant"
    __table_args__ = (
        CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_not_negative"),
        Index("ix_supplier_variant_supplier", "supplier_id"),
    )

    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variant.id", ondelete="CASCADE"), primary_key=True
    )
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"))
    supplier_sku: Mapped[str] = mapped_column(String(64), default="")
    unit_cost: Mapped[int | None]  # minor units of the supplier's currency

    supplier: Mapped[Supplier] = relationship(lazy="joined")


class PurchaseOrder(db.Model):
    """An order to a supplier for units delivered to one location."""

    __tablename__ = "purchase_order"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'ordered', 'partly_received', 'received', 'cancelled')",
            name="status_known",
        ),
        Index("ix_purchase_order_status", "status", "id"),
        Index("ix_purchase_order_supplier", "supplier_id", "id"),
    )
    audit_type = "purchase_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="RESTRICT"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    expected_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ordered_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    supplier: Mapped[Supplier] = relationship(lazy="joined")
    location: Mapped[Location] = relationship(lazy="joined")
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="purchase_order",
        order_by="PurchaseOrderLine.id",
        cascade="all, delete-orphan",
    )

    @property
    def audit_label(self) -> str:
        return self.number or f"draft {self.id}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def total(self) -> int:
        return sum(line.quantity * line.unit_cost for line in self.lines)


class PurchaseOrderLine(db.Model):
    """Units of one variant at a unit cost; `received` counts what arrived (it may pass the
    quantity when someone confirmed an over-receipt)."""

    __tablename__ = "purchase_order_line"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received >= 0", name="received_not_negative"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
        Index("ix_purchase_order_line_variant", "variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_order.id", ondelete="CASCADE")
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="RESTRICT"))
    quantity: Mapped[int]
    received: Mapped[int] = mapped_column(default=0)
    unit_cost: Mapped[int] = mapped_column(default=0)  # minor units of the PO's currency

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    variant = relationship("Variant", lazy="joined")

    @property
    def outstanding(self) -> int:
        return max(self.quantity - self.received, 0)


class PurchaseReceipt(db.Model):
    """One receipt against a line: the ledger movement it booked (so the ledger row names
    the PO line, and a retried scan finds its first receipt by the movement's key)."""

    __tablename__ = "purchase_receipt"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_purchase_receipt_line", "line_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_line.id", ondelete="CASCADE"))
    movement_id: Mapped[int] = mapped_column(
        ForeignKey("stock_movement.id", ondelete="RESTRICT"), unique=True
    )
    quantity: Mapped[int]
    over_received: Mapped[bool] = mapped_column(default=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    line: Mapped[PurchaseOrderLine] = relationship(lazy="joined")


class PurchasingSettings(db.Model):
    """The merchant's purchasing choices (one row, id 1)."""

    __tablename__ = "purchasing_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Off by default: a sold-out product says "Back soon, expected <date>" in the shop.
    show_incoming_in_shop: Mapped[bool] = mapped_column(default=False)
