"""Promotion tables: the promotion, its condition and action rows, coupon codes, redemptions.

Rules are stored as typed rows, one row per condition or action: `kind` names what it is
(`subtotal_at_least`, `percent_off_items`, ...) and `params` holds its parameters as JSON,
validated by commerce.promotions.rules for that kind before anything is written. A row per
condition/action is the shape the console builder edits (it adds and removes rows with htmx,
each row a small form whose fields it names `conditions-<n>-<param>`), and new kinds need no
schema change; the JSON is never trusted unvalidated (the engine compiles rows through the
same rules module and skips, with a log line, anything a hand edit broke).

Schedule: `starts_at` / `ends_at` are UTC (naive, like every timestamp here); `timezone` is the
IANA zone the merchant thinks in (weekday and time-of-day windows, and dates in messages).
`state` is what a person chose (draft, enabled, paused); the status shown (draft, scheduled,
active, expired, paused) is derived from it and the clock at evaluation time, so no cron job
flips promotions on and off.

Usage: `times_used` counters (promotion, coupon code, per shopper in PromotionUsage) count
uses held for a checkout being paid or redeemed by an order. They move only by conditional
UPDATEs (`... SET times_used = times_used + 1 WHERE ... AND times_used < :limit`), like stock;
the CHECK constraints are the last guard. A Redemption row records each use (held -> redeemed
-> released) and is what gives the counters back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

# Promotion.state (what a person chose)
DRAFT, ENABLED, PAUSED = "draft", "enabled", "paused"
STATES = (DRAFT, ENABLED, PAUSED)
# Derived status (what shoppers get now)
SCHEDULED, ACTIVE, EXPIRED = "scheduled", "active", "expired"
STATUSES = (DRAFT, SCHEDULED, ACTIVE, EXPIRED, PAUSED)

# Promotion.stacking
EXCLUSIVE = "exclusive"  # applies alone: nothing else applies with it
COMBINABLE = "combinable"  # stacks with other combinable promotions and shipping discounts
SHIPPING_ONLY = "shipping_only"  # stacks only with promotions that discount shipping only
STACKING = (EXCLUSIVE, COMBINABLE, SHIPPING_ONLY)
STACKING_LABELS = {
    EXCLUSIVE: "Exclusive (applies alone)",
    COMBINABLE: "Stacks with other promotions",
    SHIPPING_ONLY: "Stacks only with shipping discounts",
}

# Promotion.match: how its conditions combine
ALL, ANY = "all", "any"
MATCHES = (ALL, ANY)

# Redemption.status
HELD = "held"  # counted for a checkout being paid; ends redeemed or released
REDEEMED = "redeemed"  # an order carries it
RELEASED = "released"  # given back (payment failed, hold expired, order cancelled)
REDEMPTION_STATUSES = (HELD, REDEEMED, RELEASED)

DEFAULT_PRIORITY = 100


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Promotion(db.Model):
    __tablename__ = "promotion"
    __table_args__ = (
        CheckConstraint(f"state IN {_in(STATES)}", name="state_known"),
        CheckConstraint(f"stacking IN {_in(STACKING)}", name="stacking_known"),
        CheckConstraint(f"match IN {_in(MATCHES)}", name="match_known"),
        CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="schedule_valid"
        ),
        CheckConstraint("usage_limit IS NULL OR usage_limit > 0", name="usage_limit_positive"),
        CheckConstraint(
            "usage_limit_per_customer IS NULL OR usage_limit_per_customer > 0",
            name="customer_limit_positive",
        ),
        CheckConstraint(
            "usage_limit_per_code IS NULL OR usage_limit_per_code > 0", name="code_limit_positive"
        ),
        CheckConstraint(
            "times_used >= 0 AND (usage_limit IS NULL OR times_used <= usage_limit)",
            name="used_within_limit",
        ),
        Index("ix_promotion_state", "state", "priority", "id"),
    )
    audit_type = "promotion"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")  # internal note
    state: Mapped[str] = mapped_column(String(10), default=DRAFT)
    starts_at: Mapped[datetime | None]  # UTC; None: as soon as enabled
    ends_at: Mapped[datetime | None]  # UTC, exclusive; None: open-ended
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    priority: Mapped[int] = mapped_column(default=DEFAULT_PRIORITY)  # lower runs first
    stacking: Mapped[str] = mapped_column(String(20), default=COMBINABLE)
    match: Mapped[str] = mapped_column(String(3), default=ALL)
    requires_coupon: Mapped[bool] = mapped_column(default=False)
    usage_limit: Mapped[int | None]
    usage_limit_per_customer: Mapped[int | None]
    usage_limit_per_code: Mapped[int | None]
    times_used: Mapped[int] = mapped_column(default=0)
    revision: Mapped[int] = mapped_column(default=1)  # bumped by every change
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    conditions: Mapped[list[PromotionCondition]] = relationship(
        back_populates="promotion",
        order_by="PromotionCondition.position",
        cascade="all, delete-orphan",
    )
    actions: Mapped[list[PromotionAction]] = relationship(
        back_populates="promotion",
        order_by="PromotionAction.position",
        cascade="all, delete-orphan",
    )

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def status_at(self, now: datetime) -> str:
        """draft / paused as chosen; an enabled promotion is scheduled, active or expired by
        the clock (`now` in UTC)."""
        return derive_status(self.state, self.starts_at, self.ends_at, now)

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "state": self.state,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "timezone": self.timezone,
            "priority": self.priority,
            "stacking": self.stacking,
            "match": self.match,
            "requires_coupon": self.requires_coupon,
            "usage_limit": self.usage_limit,
            "usage_limit_per_customer": self.usage_limit_per_customer,
            "usage_limit_per_code": self.usage_limit_per_code,
            "conditions": [{"kind": c.kind, "params": c.params} for c in self.conditions],
            "actions": [{"kind": a.kind, "params": a.params} for a in self.actions],
        }


def derive_status(
    state: str, starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> str:
    if state != ENABLED:
        return state
    if ends_at is not None and now >= ends_at:
        return EXPIRED
    if starts_at is not None and now < starts_at:
        return SCHEDULED
    return ACTIVE


class PromotionCondition(db.Model):
    __tablename__ = "promotion_condition"
    __table_args__ = (Index("ix_promotion_condition_promotion", "promotion_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotion.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    promotion: Mapped[Promotion] = relationship(back_populates="conditions")


class PromotionAction(db.Model):
    __tablename__ = "promotion_action"
    __table_args__ = (Index("ix_promotion_action_promotion", "promotion_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotion.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    promotion: Mapped[Promotion] = relationship(back_populates="actions")


class CouponCode(db.Model):
    """A code that unlocks its promotion; stored upper-case, matched case-insensitively."""

    __tablename__ = "coupon_code"
    __table_args__ = (
        CheckConstraint("times_used >= 0", name="used_not_negative"),
        Index("ix_coupon_code_promotion", "promotion_id", "id"),
    )
    audit_type = "coupon_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotion.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    batch: Mapped[str] = mapped_column(String(40), default="")  # bulk generation label
    times_used: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return self.code


class PromotionUsage(db.Model):
    """Uses of a promotion per shopper identity ("email:<address>" or "customer:<id>")."""

    __tablename__ = "promotion_usage"
    __table_args__ = (CheckConstraint("times_used >= 0", name="used_not_negative"),)

    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotion.id", ondelete="CASCADE"), primary_key=True
    )
    identity: Mapped[str] = mapped_column(String(300), primary_key=True)
    times_used: Mapped[int] = mapped_column(default=0)


class Redemption(db.Model):
    """One use of a promotion (and the code that unlocked it) by one checkout / order.

    `reference` is the checkout's (what its stock hold is filed under); `order_id` is set in
    the transaction that creates the order. `identities` lists the PromotionUsage rows counted,
    so a release gives back exactly what was taken."""

    __tablename__ = "redemption"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(REDEMPTION_STATUSES)}", name="status_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_redemption_reference", "reference", "status"),
        Index("ix_redemption_order", "order_id"),
        Index("ix_redemption_promotion", "promotion_id", "status"),
        Index("ix_redemption_held", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotion.id", ondelete="CASCADE"))
    coupon_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_code.id", ondelete="SET NULL")
    )
    code: Mapped[str] = mapped_column(String(64), default="")
    reference: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default=HELD)
    amount: Mapped[int] = mapped_column(default=0)  # what the promotion took, minor units
    currency: Mapped[str] = mapped_column(String(3), default="")
    identities: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]  # a held use lapses then (a sweep gives it back)
    redeemed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]


class CouponEntry(db.Model):
    """The code a shopper entered, filed under the cart's or checkout's reference
    ("cart:<id>", "checkout:<key>") the way stock holds and payments are."""

    __tablename__ = "coupon_entry"

    reference: Mapped[str] = mapped_column(String(100), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromotionRevision(db.Model):
    """One row whose token changes with every promotion change: the cache key of the compiled
    set of live promotions each process keeps (commerce.promotions.active)."""

    __tablename__ = "promotion_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
