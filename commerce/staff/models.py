from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from commerce.db import utcnow
from commerce.extensions import db
from commerce.staff.permissions import ROLES, role_allows

_ROLE_LIST = ", ".join(f"'{r}'" for r in ROLES)


class StaffMember(db.Model):
    """A person who works in the console. Customers are a separate table (storefront)."""

    __tablename__ = "staff_member"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLE_LIST})", name="role_known"),)
    audit_type = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped when the account is deactivated or its password changes: every session and
    # remember-me cookie carrying the old value stops working at its next request.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def audit_label(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def can(self, permission: str) -> bool:
        return self.is_active and role_allows(self.role, permission)

    def snapshot(self) -> dict[str, object]:
        return {"email": self.email, "name": self.name, "role": self.role, "active": self.is_active}


class SavedFilter(db.Model):
    """A staff member's named filter for a console list (the list's query string)."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("staff_id", "area", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="CASCADE"))
    area: Mapped[str] = mapped_column(String(40))  # "orders", ...
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(db.Model):
    """A secret an integration sends as `Authorization: Bearer ...` to the Admin API.

    Only the sha256 of the secret is kept (the secret is high-entropy, so a fast hash is
    enough and a lookup by hash finds it in one index probe); `prefix` is its first characters,
    shown in lists so people can tell tokens apart without the secret."""

    __tablename__ = "api_token"
    audit_type = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    @property
    def audit_label(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes or []),
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


class ApiIdempotencyKey(db.Model):
    """The first answer to a POST made with an `Idempotency-Key`, per token and key: a repeat
    gets it back instead of doing the work twice. `status` is None while the first request is
    still running (a concurrent repeat is told so)."""

    __tablename__ = "api_idempotency_key"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # the hourly purge
