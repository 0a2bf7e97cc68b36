from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from commerce.db import utcnow
from commerce.extensions import db


class Customer(db.Model):
    """A shopper with an account. Staff members are a separate table (console)."""

    __tablename__ = "customer"
    __table_args__ = (
        # Customers and Ctrl+K find a customer by "contains" in the email or name, on
        # PostgreSQL through pg_trgm (migration 0022_customer_text); SQLite reads the rows.
        *(
            Index(
                f"ix_customer_{column}_trgm",
                func.lower(text(column)).label(column),
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql")
            for column in ("email", "name")
        ),
    )
    audit_type = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)  # stored lowercased
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped when the password changes or the account is closed: sessions carrying the old
    # value stop working at their next request.
    session_version: Mapped[int] = mapped_column(default=1)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    # Set by staff (e.g. "wholesale", "vip"); promotions can require one.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

    addresses: Mapped[list[Address]] = relationship(
        back_populates="customer",
        order_by="(Address.is_default.desc(), Address.id)",
        cascade="all, delete-orphan",
    )

    @property
    def audit_label(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def session_value(self) -> str:
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def snapshot(self) -> dict[str, object]:
        return {"email": self.email, "name": self.name, "active": self.is_active}


class Address(db.Model):
    """One entry of a customer's address book."""

    __tablename__ = "customer_address"
    audit_type = "customer_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(120), default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    phone: Mapped[str] = mapped_column(String(40), default="")
    is_default: Mapped[bool] = mapped_column(default=False)

    customer: Mapped[Customer] = relationship(back_populates="addresses")

    @property
    def audit_label(self) -> str:
        return f"{self.name}, {self.city}"

    def snapshot(self) -> dict[str, object]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "phone": self.phone,
            "is_default": self.is_default,
        }
