from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db
from commerce.sealed import Sealed

KINDS = ("staff", "customer")
_KIND_LIST = ", ".join(f"'{k}'" for k in KINDS)


class AuthSession(db.Model):
    """One signed-in browser. The cookie carries a random id; only its SHA-256 is stored, so a
    copy of this table lets nobody in. Ending the row (sign-out, "end session", a password
    change) ends the session on the server, whatever copies of the cookie exist."""

    __tablename__ = "auth_session"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_KIND_LIST})", name="kind_known"),
        Index("ix_auth_session_user", "kind", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int]
    # The account's session_version at sign-in: a deactivation, a role change or a new
    # password bumps it, and every session (and remember token) of the old version is over.
    account_version: Mapped[int] = mapped_column(default=1)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "Keep me signed in": a second random token (hashed) in a long-lived cookie, replaced at
    # each use and void once the row ends or `remember_until` passes.
    remember_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    remember_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(40))
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")

    @property
    def audit_label(self) -> str:
        return f"{self.kind} session {self.id}"


class SignInThrottle(db.Model):
    """Failed sign-ins per email (known or not, so the answer never tells which), for the
    per-account backoff; a success clears the row."""

    __tablename__ = "sign_in_throttle"
    __table_args__ = (UniqueConstraint("kind", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    email: Mapped[str] = mapped_column(String(255))
    failures: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffSecondFactor(db.Model):
    """A staff member's authenticator app (TOTP, RFC 6238): the shared secret, in use once
    confirmed with a first code. `last_step` is the last time step accepted, so a code seen
    over a shoulder cannot be used a second time."""

    __tablename__ = "staff_second_factor"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_member.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(Sealed)  # encrypted at rest (commerce/sealed.py)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)


class StaffRecoveryCode(db.Model):
    """A single-use recovery code (for a lost phone); only its SHA-256 is kept."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_member.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
