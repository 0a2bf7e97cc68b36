"""The audit log: who changed what, from what, to what, and when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, and_, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import service, utcnow
from commerce.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_entry_actor", "actor_id", "id"),
        Index("ix_audit_entry_actor_token", "actor_token_id", "id"),
        Index("ix_audit_entry_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(255), default="system")
    # Set when the change came through the Admin API: the token that made it.
    actor_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_token.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    subject_label: Mapped[str] = mapped_column(String(255), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor = relationship("StaffMember", lazy="raise")

    def changes(self) -> list[tuple[str, Any, Any]]:
        """Fields whose value differs between before and after, for display."""
        before, after = self.before or {}, self.after or {}
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]

    @property
    def action_text(self) -> str:
        """The action in words: "variant.bulk_change_price" -> "Variant: bulk change price"."""
        kind, _, verb = self.action.partition(".")
        return f"{field_label(kind)}: {verb.replace('_', ' ')}" if verb else field_label(kind)

    @property
    def subject_text(self) -> str:
        """What was changed, for people: its kind and name, never a checkout's token."""
        kind = field_label(self.subject_type)
        if self.subject_type in TOKEN_SUBJECTS or not self.subject_label:
            return kind
        return f"{kind} {self.subject_label}"

    def readable_changes(self) -> list[tuple[str, str, Any, Any]]:
        """(key, label, before, after) for people: internal ids, tokens and keys left out (they
        stay in the entry), each field named in words ("captured_amount" -> "Captured amount")."""
        return [
            (key, field_label(key), before, after)
            for key, before, after in self.changes()
            if not is_internal_key(key)
        ]


# Subjects whose label is a token (a checkout's reference): named by their kind only.
TOKEN_SUBJECTS = {"checkout", "cart"}
# Amounts in minor units, by name: shown as money in the log.
MONEY_KEYS = {
    "price",
    "amount",
    "total",
    "subtotal",
    "shipping",
    "tax",
    "discount",
    "refunded",
    "cost",  # a variant's average unit cost (commerce/inventory/costing.py)
}
MONEY_SUFFIXES = ("_amount", "_price", "_total", "_subtotal", "_minor")
# Identifiers and secrets kept for machines (idempotency keys, checkout tokens, row ids).
INTERNAL_SUFFIXES = ("_id", "_ids", "_token", "_key", "_keys")
INTERNAL_KEYS = {"id", "ids", "token", "key", "tx_id", "row_key"}


def is_money_key(key: str) -> bool:
    """Whether an audited field holds an amount in minor units."""
    return key in MONEY_KEYS or key.endswith(MONEY_SUFFIXES)


def is_internal_key(key: str) -> bool:
    """Whether an audited field is an internal id or token, not for people to read."""
    return key in INTERNAL_KEYS or key.endswith(INTERNAL_SUFFIXES)


def field_label(key: str) -> str:
    """A field's name in words: "compare_at_price" -> "Compare at price"."""
    return key.replace("_", " ").strip().capitalize() or key


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set) else items
    return value


def record(
    actor: Any,
    action: str,
    subject: Any = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    subject_type: str | None = None,
    subject_id: Any = None,
    subject_label: str | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction; `actor` is a StaffMember, an API token's
    actor (commerce.staff.tokens.TokenActor, carrying `api_token_id`) or None (system)."""
    if subject is not None:
        subject_type = subject_type or getattr(
            subject, "audit_type", type(subject).__name__.lower()
        )
        subject_id = subject_id if subject_id is not None else getattr(subject, "id", None)
        subject_label = subject_label or getattr(subject, "audit_label", None) or str(subject_id)
    entry = AuditEntry(
        at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "email", None) or "system",
        actor_token_id=getattr(actor, "api_token_id", None),
        action=action,
        subject_type=subject_type or "system",
        subject_id=None if subject_id is None else str(subject_id),
        subject_label=(subject_label or "")[:255],
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
    )
    db.session.add(entry)
    return entry


def query_entries(
    *,
    actor_id: int | None = None,
    actor_token_id: int | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    text: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    before_id: int | None = None,
    limit: int = 50,
    subjects: Mapping[str, Sequence[str]] | None = None,
) -> list[AuditEntry]:
    """Newest first, keyset-paged by id so deep pages stay fast. `subjects` (type -> ids)
    gathers the entries of several subjects at once, e.g. a product and its variants."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subjects:
        stmt = stmt.where(
            or_(
                *(
                    and_(AuditEntry.subject_type == kind, AuditEntry.subject_id.in_(list(ids)))
                    for kind, ids in subjects.items()
                    if ids
                )
            )
        )
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if actor_token_id:
        stmt = stmt.where(AuditEntry.actor_token_id == actor_token_id)
    if subject_type:
        stmt = stmt.where(AuditEntry.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditEntry.subject_id == str(subject_id))
    if text:
        like = f"%{text.strip()}%"
        stmt = stmt.where(AuditEntry.subject_label.ilike(like) | AuditEntry.action.ilike(like))
    if date_from:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(date_from, datetime.min.time()))
    if date_to:
        end = datetime.combine(date_to, datetime.min.time()) + timedelta(days=1)
        stmt = stmt.where(AuditEntry.at < end)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(db.session.scalars(stmt))


@service
def update_audited(
    subject: Any, values: dict[str, Any], *, by: Any, action: str, snapshot: Any
) -> Any:
    """Set already-validated values in one transaction; audit before/after if anything changed."""

    before = snapshot(subject)
    for key, value in values.items():
        setattr(subject, key, value)
    after = snapshot(subject)
    if after != before:
        record(by, action, subject, before=before, after=after)
    return subject


def deactivate_audited(subject: Any, *, by: Any, action: str) -> Any:
    """Switch off a settings row (location, shipping method, tax rate), audited; idempotent."""
    from commerce.db import transaction

    if not subject.is_active:
        return subject
    with transaction():
        subject.is_active = False
        record(by, action, subject, before={"is_active": True}, after={"is_active": False})
    return subject
