"""A shipping method: where it ships, and what it costs (flat, or by weight bracket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db

FLAT = "flat"
WEIGHT = "weight"
SHIPPING_KINDS = {FLAT: "Flat rate", WEIGHT: "By weight"}


class ShippingMethod(db.Model):
    """Prices are int minor units of the shop currency.

    `countries` is a list of ISO 3166-1 alpha-2 codes (empty: ships everywhere). A flat method
    has `price`; a weight method has `brackets`, ascending `{"up_to_grams": int | None,
    "price": int}` rows where only the last may be open-ended (None). At or over `free_over`
    (the order subtotal, when set) the method costs nothing.
    """

    __tablename__ = "shipping_method"
    __table_args__ = (
        CheckConstraint("kind IN ('flat', 'weight')", name="kind_known"),
        CheckConstraint("price IS NULL OR price >= 0", name="price_not_negative"),
        CheckConstraint("free_over IS NULL OR free_over >= 0", name="free_over_not_negative"),
    )
    audit_type = "shipping_method"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default=FLAT)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    price: Mapped[int | None] = mapped_column(default=None)
    brackets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    free_over: Mapped[int | None] = mapped_column(default=None)
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return self.name

    def price_for(self, weight_grams: int, subtotal: int) -> int | None:
        """What this method costs for a parcel, or None when it cannot carry it."""
        if self.kind == FLAT:
            cost = self.price
        else:
            cost = next(
                (
                    b["price"]
                    for b in self.brackets or []
                    if b.get("up_to_grams") is None or weight_grams <= b["up_to_grams"]
                ),
                None,
            )
        if cost is None:
            return None
        if self.free_over is not None and subtotal >= self.free_over:
            return 0
        return cost

    def ships_to(self, country: str) -> bool:
        return not self.countries or country in self.countries
