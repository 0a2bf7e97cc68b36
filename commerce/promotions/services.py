"""Promotion services: create, change, enable, pause, end, duplicate and delete promotions.

Every call validates first (messages at the field or path: `name`, `ends_at`,
("conditions", 0, "amount"), ("actions", 1, "percent")...; contradictions such as an end
before the start, a percentage over 100, buy X get Y with X = 0 or an unknown product are
refused), then changes rows, writes the
audit entry (before/after), bumps the promotions revision (so every process recompiles its
cached set of live promotions at its next price_cart) and queues a `promotion.changed` outbox
event, all in one transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import column, func, select, table, update
from sqlalchemy.exc import IntegrityError

from commerce import audit, outbox
from commerce.db import service, utcnow
from commerce.errors import ErrorPath, InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.promotions import rules
from commerce.promotions.active import forget_revision
from commerce.promotions.models import (
    ALL,
    COMBINABLE,
    DEFAULT_PRIORITY,
    DRAFT,
    ENABLED,
    EXPIRED,
    MATCHES,
    PAUSED,
    REDEEMED,
    STACKING,
    CouponCode,
    Promotion,
    PromotionAction,
    PromotionCondition,
    PromotionRevision,
    Redemption,
)
from commerce.wallclock import stored_moment

PROMOTION_CHANGED = "promotion.changed"  # outbox topic
MAX_NAME = 120
MAX_DESCRIPTION = 5000
MAX_PRIORITY = 1_000_000
MAX_LIMIT = 10**9
FIELDS = (
    "name",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "priority",
    "stacking",
    "match",
    "requires_coupon",
    "usage_limit",
    "usage_limit_per_customer",
    "usage_limit_per_code",
    "conditions",
    "actions",
)


def get_promotion(promotion_id: Any) -> Promotion:
    try:
        found = db.session.get(Promotion, int(promotion_id))
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise NotFound("No such promotion.")
    return found


def shop_timezone() -> str:
    return str(current_app.config.get("SHOP_TIMEZONE") or "UTC")


# -- the revision (cache key of the compiled live set) ------------------------------------------


def bump_revision() -> str:
    """A new token in the caller's transaction: processes recompile their live set."""
    forget_revision()
    token = secrets.token_hex(16)
    now = utcnow()
    moved = db.session.execute(
        update(PromotionRevision)
        .where(PromotionRevision.id == 1)
        .values(token=token, changed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        try:
            with db.session.begin_nested():
                db.session.add(PromotionRevision(id=1, token=token, changed_at=now))
        except IntegrityError:  # created by a concurrent change meanwhile
            db.session.execute(
                update(PromotionRevision)
                .where(PromotionRevision.id == 1)
                .values(token=token, changed_at=now)
                .execution_options(synchronize_session=False)
            )
    return token


def promotion_changed(promotion: Promotion) -> None:
    """Mark a change (inside the caller's transaction): revision, timestamp, outbox event."""
    promotion.updated_at = utcnow()
    bump_revision()
    db.session.flush()
    outbox.enqueue(PROMOTION_CHANGED, {"promotion_id": promotion.id})


# -- cleaning -----------------------------------------------------------------------------------


def _zone(value: Any, errors: dict[str, list[str]]) -> str:
    name = str(value or "").strip() or shop_timezone()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.setdefault("timezone", []).append(
            f"“{name}” is not a time zone (e.g. Europe/Paris)."
        )
        return "UTC"
    return name


def _limit(value: Any, key: str, errors: dict[str, list[str]]) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors.setdefault(key, []).append("Enter a whole number, or leave it empty for no limit.")
        return None
    if number < 1:
        errors.setdefault(key, []).append("A limit is 1 or more (empty: no limit).")
        return None
    if number > MAX_LIMIT:
        errors.setdefault(key, []).append("That limit is too large.")
        return None
    return number


def _check_references(refs: rules.References, errors: dict[ErrorPath, list[str]]) -> None:
    """Every product, variant, category, collection and shipping method named must exist."""
    from commerce.catalog.models import Category, Collection, Product, Variant
    from commerce.shipping.models import ShippingMethod

    for wanted, model, noun in (
        (refs.products, Product, "product"),
        (refs.variants, Variant, "variant"),
        (refs.categories, Category, "category"),
        (refs.collections, Collection, "collection"),
    ):
        if not wanted:
            continue
        found = set(db.session.scalars(select(model.id).where(model.id.in_(list(wanted)))))
        for missing in sorted(set(wanted) - found):
            errors.setdefault(wanted[missing], []).append(f"Unknown {noun} (id {missing}).")
    if refs.shipping_methods:
        codes = {
            code.upper()
            for code in db.session.scalars(
                select(ShippingMethod.code).where(
                    func.upper(ShippingMethod.code).in_(list(refs.shipping_methods))
                )
            )
        }
        for missing in sorted(set(refs.shipping_methods) - codes):
            errors.setdefault(refs.shipping_methods[missing], []).append(
                f"Unknown shipping method {missing}."
            )


def clean_promotion(values: Mapping[str, Any], *, current: Promotion | None = None) -> dict:
    """Validate a promotion's fields (all of them for a new one; those given for a change,
    checked together with the rest) and return them cleaned; ValidationError otherwise."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown promotion fields: {unknown}")
    merged: dict[str, Any] = dict(current_values(current)) if current is not None else {}
    merged.update(values)
    errors: dict[ErrorPath, list[str]] = {}
    clean: dict[str, Any] = {}

    name = " ".join(str(merged.get("name") or "").split())
    if not name:
        errors["name"] = ["Give the promotion a name."]
    elif len(name) > MAX_NAME:
        errors["name"] = [f"At most {MAX_NAME} characters."]
    clean["name"] = name
    description = str(merged.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [f"At most {MAX_DESCRIPTION} characters."]
    clean["description"] = description

    zone = _zone(merged.get("timezone"), errors)
    clean["timezone"] = zone
    clean["starts_at"] = stored_moment(merged.get("starts_at"), zone, "starts_at", errors)
    clean["ends_at"] = stored_moment(merged.get("ends_at"), zone, "ends_at", errors)
    if clean["starts_at"] and clean["ends_at"] and clean["ends_at"] <= clean["starts_at"]:
        errors.setdefault("ends_at", []).append("The end must be after the start.")

    priority = merged.get("priority", DEFAULT_PRIORITY)
    try:
        priority = int(str(priority).strip()) if priority not in (None, "") else DEFAULT_PRIORITY
        if not 0 <= priority <= MAX_PRIORITY:
            raise ValueError
    except (TypeError, ValueError):
        errors["priority"] = [f"Enter a whole number from 0 to {MAX_PRIORITY}."]
        priority = DEFAULT_PRIORITY
    clean["priority"] = priority

    stacking = merged.get("stacking") or COMBINABLE
    if stacking not in STACKING:
        errors["stacking"] = ["Choose how it stacks with other promotions."]
    clean["stacking"] = stacking
    match = merged.get("match") or ALL
    if match not in MATCHES:
        errors["match"] = ["Choose whether all or any conditions must hold."]
    clean["match"] = match
    clean["requires_coupon"] = bool(merged.get("requires_coupon"))
    for key in ("usage_limit", "usage_limit_per_customer", "usage_limit_per_code"):
        clean[key] = _limit(merged.get(key), key, errors)
    limit = clean["usage_limit"]
    if current is not None and limit is not None and limit < current.times_used:
        errors.setdefault("usage_limit", []).append(
            f"It has been used {current.times_used} times already."
        )

    currency = current_app.config["SHOP_CURRENCY"]
    conditions, actions, refs, row_errors = rules.clean_rows(
        merged.get("conditions") or [], merged.get("actions") or [], currency=currency
    )
    errors.update(row_errors)
    _check_references(refs, errors)
    clean["conditions"] = conditions
    clean["actions"] = actions
    if errors:
        raise ValidationError(errors=errors)
    return clean


def current_values(promotion: Promotion) -> dict[str, Any]:
    return {
        "name": promotion.name,
        "description": promotion.description,
        "starts_at": _as_local(promotion.starts_at, promotion.timezone),
        "ends_at": _as_local(promotion.ends_at, promotion.timezone),
        "timezone": promotion.timezone,
        "priority": promotion.priority,
        "stacking": promotion.stacking,
        "match": promotion.match,
        "requires_coupon": promotion.requires_coupon,
        "usage_limit": promotion.usage_limit,
        "usage_limit_per_customer": promotion.usage_limit_per_customer,
        "usage_limit_per_code": promotion.usage_limit_per_code,
        "conditions": [{"kind": c.kind, "params": c.params} for c in promotion.conditions],
        "actions": [{"kind": a.kind, "params": a.params} for a in promotion.actions],
    }


def _as_local(moment: datetime | None, zone: str) -> datetime | None:
    """A stored UTC moment as an aware datetime (round-trips through _moment unchanged)."""
    return moment.replace(tzinfo=UTC) if moment is not None else None


def _apply(promotion: Promotion, clean: Mapping[str, Any]) -> None:
    for key in FIELDS:
        if key in ("conditions", "actions"):
            continue
        setattr(promotion, key, clean[key])
    promotion.conditions = [
        PromotionCondition(position=n, kind=row["kind"], params=row["params"])
        for n, row in enumerate(clean["conditions"])
    ]
    promotion.actions = [
        PromotionAction(position=n, kind=row["kind"], params=row["params"])
        for n, row in enumerate(clean["actions"])
    ]


# -- verbs --------------------------------------------------------------------------------------


@service
def create_promotion(*, by: Any, **fields: Any) -> Promotion:
    """A new promotion, as a draft: nothing applies until it is enabled."""
    clean = clean_promotion(fields)
    now = utcnow()
    promotion = Promotion(state=DRAFT, created_at=now, updated_at=now, times_used=0)
    _apply(promotion, clean)
    db.session.add(promotion)
    db.session.flush()
    promotion_changed(promotion)
    audit.record(by, "promotion.create", promotion, after=promotion.snapshot())
    return promotion


@service
def update_promotion(promotion: Promotion, *, by: Any, **fields: Any) -> Promotion:
    """Change any of FIELDS (conditions and actions replace the rows when given)."""
    clean = clean_promotion(fields, current=promotion)
    if promotion.state == ENABLED and not clean["actions"]:
        raise ValidationError("An enabled promotion needs at least one action.", field="actions")
    before = promotion.snapshot()
    _apply(promotion, clean)
    db.session.flush()
    after = promotion.snapshot()
    if after != before:
        promotion.revision += 1
        promotion_changed(promotion)
        audit.record(by, "promotion.update", promotion, before=before, after=after)
    return promotion


@service
def _set_state(promotion: Promotion, state: str, *, by: Any, action: str, **extra: Any) -> None:
    before = {"state": promotion.state, **{k: getattr(promotion, k) for k in extra}}
    promotion.state = state
    for key, value in extra.items():
        setattr(promotion, key, value)
    promotion.revision += 1
    promotion_changed(promotion)
    after = {"state": state, **extra}
    audit.record(by, action, promotion, before=before, after=after)


@service
def enable_promotion(promotion: Promotion, *, by: Any) -> Promotion:
    """Publish (or resume) a promotion: it applies from its start until its end."""
    if promotion.state == ENABLED:
        return promotion
    errors: dict[str, list[str]] = {}
    if not promotion.actions:
        errors["actions"] = ["Add at least one action first."]
    if promotion.requires_coupon and not _has_codes(promotion):
        errors["codes"] = ["Add a coupon code first: this promotion needs one."]
    if promotion.status_at(utcnow()) == EXPIRED or (
        promotion.ends_at is not None and promotion.ends_at <= utcnow()
    ):
        errors["ends_at"] = ["The end date has passed: move it first."]
    if errors:
        raise ValidationError("This promotion cannot be enabled yet.", errors=errors)
    action = "promotion.resume" if promotion.state == PAUSED else "promotion.enable"
    _set_state(promotion, ENABLED, by=by, action=action)
    return promotion


@service
def pause_promotion(promotion: Promotion, *, by: Any) -> Promotion:
    if promotion.state == PAUSED:
        return promotion
    if promotion.state != ENABLED:
        raise InvalidTransition("Only an enabled promotion can be paused.", field="state")
    _set_state(promotion, PAUSED, by=by, action="promotion.pause")
    return promotion


@service
def end_promotion(promotion: Promotion, *, by: Any, now: datetime | None = None) -> Promotion:
    """End now: the promotion stops applying at once and shows as expired."""
    now = now or utcnow()
    if promotion.ends_at is not None and promotion.ends_at <= now:
        return promotion
    extra: dict[str, Any] = {"ends_at": now}
    if promotion.starts_at is not None and promotion.starts_at >= now:
        extra["starts_at"] = None  # never started: it ends before it would have
    state = promotion.state if promotion.state != DRAFT else ENABLED
    _set_state(promotion, state, by=by, action="promotion.end", **extra)
    return promotion


@service
def duplicate_promotion(promotion: Promotion, *, by: Any) -> Promotion:
    """A draft copy with the same rules and limits, no codes and no uses."""
    values = current_values(promotion)
    values["name"] = f"Copy of {promotion.name}"[:MAX_NAME]
    if promotion.ends_at is not None and promotion.ends_at <= utcnow():
        values["starts_at"] = values["ends_at"] = None  # an ended schedule is not worth copying
    copy = create_promotion(by=by, **values)
    return copy


@service
def delete_promotion(promotion: Promotion, *, by: Any) -> None:
    """Only a promotion no order used can be deleted; end it otherwise (the record stays)."""
    used = db.session.scalar(
        select(func.count(Redemption.id)).where(Redemption.promotion_id == promotion.id)
    )
    if used:
        raise InvalidTransition(
            "Orders used this promotion: end it instead of deleting it.", field="state"
        )
    before = promotion.snapshot()
    audit.record(by, "promotion.delete", promotion, before=before)
    outbox.enqueue(PROMOTION_CHANGED, {"promotion_id": promotion.id, "deleted": True})
    bump_revision()
    db.session.delete(promotion)


def _has_codes(promotion: Promotion) -> bool:
    return bool(
        db.session.scalar(
            select(CouponCode.id).where(CouponCode.promotion_id == promotion.id).limit(1)
        )
    )


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    orders: int = 0  # orders that carry it (cancelled ones gave their use back)
    discount: int = 0  # what it took off them, minor units
    revenue: int = 0  # those orders' totals: the revenue attributed to it


# The order table, named without importing the orders package (which sits above this one).
_orders = table("shop_order", column("id"), column("total"))


def usage(promotion_ids: list[int]) -> dict[int, Usage]:
    """Per promotion: orders redeemed, discount given, revenue attributed (the builder's
    list figures). One query."""
    if not promotion_ids:
        return {}
    rows = db.session.execute(
        select(
            Redemption.promotion_id,
            func.count(Redemption.id),
            func.coalesce(func.sum(Redemption.amount), 0),
            func.coalesce(func.sum(_orders.c.total), 0),
        )
        .join(_orders, _orders.c.id == Redemption.order_id)
        .where(Redemption.promotion_id.in_(promotion_ids), Redemption.status == REDEEMED)
        .group_by(Redemption.promotion_id)
    ).all()
    return {pid: Usage(int(n), int(d), int(rev)) for pid, n, d, rev in rows}
