"""Tax rates: one per country (region "") and optionally per region (e.g. a US state)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db


class TaxRate(db.Model):
    """`rate_bps` is in basis points (2000 = 20%). `region` is "" for the country-wide rate,
    so the (country, region) uniqueness holds without NULLs slipping past it."""

    __tablename__ = "tax_rate"
    __table_args__ = (
        UniqueConstraint("country", "region"),
        CheckConstraint("rate_bps >= 0 AND rate_bps <= 10000", name="rate_bps_in_range"),
    )
    audit_type = "tax_rate"

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(10), default="")
    name: Mapped[str] = mapped_column(String(120))
    rate_bps: Mapped[int] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        where = f"{self.country}-{self.region}" if self.region else self.country
        return f"{self.name} ({where})"
