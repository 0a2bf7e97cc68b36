"""Stock: locations, a level per variant and location, and the ledger of every change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

RECEIVED = "received"
SOLD = "sold"
RETURNED = "returned"
DAMAGED = "damaged"
LOST = "lost"
FOUND = "found"
CYCLE_COUNT = "cycle_count"
TRANSFER_OUT = "transfer_out"
TRANSFER_IN = "transfer_in"
CORRECTION = "correction"
# Units moved into or out of an unavailable state (on hand, not for sale): the movement's
# `bucket` names the state, its delta the change of that counter (on_hand does not move).
HOLD_BACK = "hold_back"
RELEASE = "release"
REASONS = (
    RECEIVED,
    SOLD,
    RETURNED,
    DAMAGED,
    LOST,
    FOUND,
    CYCLE_COUNT,
    TRANSFER_OUT,
    TRANSFER_IN,
    CORRECTION,
    HOLD_BACK,
    RELEASE,
)
# The counters a movement may change: on_hand, or one of the unavailable states.
ON_HAND = "on_hand"
QUALITY_CONTROL, SAFETY_STOCK = "quality_control", "safety_stock"
UNAVAILABLE_STATES = (DAMAGED, QUALITY_CONTROL, SAFETY_STOCK)
BUCKETS = (ON_HAND, *UNAVAILABLE_STATES)


class Location(db.Model):
    """A warehouse or store; lower priority numbers are allocated from first."""

    __tablename__ = "location"
    audit_type = "location"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="warehouse")
    priority: Mapped[int] = mapped_column(default=1)
    is_active: Mapped[bool] = mapped_column(default=True)
    address: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return self.name


AVAILABLE_SQL = "on_hand - allocated - reserved - damaged - quality_control - safety_stock"


class StockLevel(db.Model):
    """Counters for one variant at one location; the CHECKs are the last guard against oversell."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("variant_id", "location_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("allocated >= 0", name="allocated_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("damaged >= 0", name="damaged_not_negative"),
        CheckConstraint("quality_control >= 0", name="quality_control_not_negative"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
        CheckConstraint(f"{AVAILABLE_SQL} >= 0", name="available_not_negative"),
        Index("ix_stock_level_location", "location_id", "variant_id"),
        # The stock overview's keyset orders (console lists at 50,000 products).
        Index("ix_stock_level_updated", "updated_at", "id"),
        Index("ix_stock_level_on_hand", "on_hand", "id"),
        # ... and by "available", its expression as the overview orders by it.
        Index("ix_stock_level_available", text(f"({AVAILABLE_SQL})"), "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    on_hand: Mapped[int] = mapped_column(default=0)
    allocated: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    # On hand but not for sale (commerce/inventory/unavailable.py), each moved by the ledger.
    damaged: Mapped[int] = mapped_column(default=0)
    quality_control: Mapped[int] = mapped_column(default=0)
    safety_stock: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    location: Mapped[Location] = relationship(lazy="joined")

    @hybrid_property
    def unavailable(self) -> int:
        return self.damaged + self.quality_control + self.safety_stock

    @hybrid_property
    def available(self) -> int:
        """What can be sold: on hand less what is promised, held, or not for sale. In SQL the
        same expression (every conditional UPDATE and the CHECK use it)."""
        return (
            self.on_hand
            - self.allocated
            - self.reserved
            - self.damaged
            - self.quality_control
            - self.safety_stock
        )


class StockMovement(db.Model):
    """One line of the ledger. Never edited or deleted: a mistake is corrected by a new line."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_not_zero"),
        Index("ix_stock_movement_level", "stock_level_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stock_level_id: Mapped[int] = mapped_column(ForeignKey("stock_level.id", ondelete="RESTRICT"))
    delta: Mapped[int]
    reason: Mapped[str] = mapped_column(String(20))
    # Which counter `delta` changes: on_hand, or an unavailable state (damaged, QC, safety).
    bucket: Mapped[str] = mapped_column(String(20), default=ON_HAND, server_default=ON_HAND)
    reference: Mapped[str] = mapped_column(String(120), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


ACTIVE, RELEASED, EXPIRED, COMMITTED = "active", "released", "expired", "committed"
ALLOCATED, SHIPPED, CANCELLED = "allocated", "shipped", "cancelled"


class Reservation(db.Model):
    """Units held for a checkout until it becomes an order or its time runs out."""

    __tablename__ = "reservation"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "status IN ('active', 'released', 'expired', 'committed')", name="status_known"
        ),
        Index("ix_reservation_reference", "reference", "status"),
        Index("ix_reservation_expiry", "status", "expires_at"),
        Index("ix_reservation_level", "stock_level_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stock_level_id: Mapped[int] = mapped_column(ForeignKey("stock_level.id", ondelete="RESTRICT"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    reference: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default=ACTIVE)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    stock_level: Mapped[StockLevel] = relationship(lazy="joined")


class Allocation(db.Model):
    """Units promised to a placed order at one location: the recorded choice of where from."""

    __tablename__ = "allocation"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("shipped >= 0 AND shipped <= quantity", name="shipped_within_quantity"),
        CheckConstraint("status IN ('allocated', 'shipped', 'cancelled')", name="status_known"),
        Index("ix_allocation_reference", "reference", "status"),
        Index("ix_allocation_level", "stock_level_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stock_level_id: Mapped[int] = mapped_column(ForeignKey("stock_level.id", ondelete="RESTRICT"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    shipped: Mapped[int] = mapped_column(default=0)
    reference: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default=ALLOCATED)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    stock_level: Mapped[StockLevel] = relationship(lazy="joined")

    @property
    def outstanding(self) -> int:
        return self.quantity - self.shipped if self.status == ALLOCATED else 0
