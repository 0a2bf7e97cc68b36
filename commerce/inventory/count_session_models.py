"""Tables of the count sessions: a cycle count scanned at a location, before it is applied
(then it becomes cycle-count movements through commerce/inventory/counts.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.models import Location

COUNT_OPEN, COUNT_APPLIED, COUNT_ABANDONED = "open", "applied", "abandoned"


class CountSession(db.Model):
    """A cycle count in progress at one location: what was scanned so far."""

    __tablename__ = "count_session"
    audit_type = "count"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'applied', 'abandoned')", name="status_known"),
        Index("ix_count_session_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(12), default=COUNT_OPEN)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    location: Mapped[Location] = relationship(lazy="joined")

    @property
    def number(self) -> str:
        return f"C-{self.id:05d}"

    @property
    def audit_label(self) -> str:
        return f"{self.number} at {self.location.code}"


class CountSessionLine(db.Model):
    """Units of one variant counted so far; `last_key` is the last scan booked, so the same
    scan sent twice (a double Enter, a retry) counts once."""

    __tablename__ = "count_session_line"
    __table_args__ = (
        UniqueConstraint("session_id", "variant_id"),
        CheckConstraint("counted >= 0", name="counted_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("count_session.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    counted: Mapped[int] = mapped_column(default=0)
    last_key: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    variant = relationship("Variant", lazy="joined")
