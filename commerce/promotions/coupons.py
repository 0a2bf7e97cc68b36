"""Coupon codes: single codes, bulk generation (10,000 unique codes with a prefix in a few
seconds), CSV export, and the code a shopper entered in a cart or checkout.

Codes are stored upper-case and matched case-insensitively. Generated codes use an alphabet
without look-alikes (no 0/O, 1/I/L) and `secrets` randomness; uniqueness is checked against
the table in chunks before one bulk insert, and the UNIQUE constraint is the last guard.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, ScalarSelect, delete, func, insert, select

from commerce import audit, throttle
from commerce.csv_safe import SafeCsv
from commerce.db import service, transaction, utcnow
from commerce.errors import DuplicateValue, InvalidTransition, TooManyAttempts, ValidationError
from commerce.extensions import db
from commerce.promotions.active import normalize_code
from commerce.promotions.models import (
    ACTIVE,
    SCHEDULED,
    CouponCode,
    CouponEntry,
    Promotion,
    Redemption,
)
from commerce.promotions.services import promotion_changed

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # 31 symbols, no look-alikes
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")
PREFIX_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
MAX_GENERATE = 100_000
CHUNK = 1000


def _clean_code(code: Any) -> str:
    text = normalize_code(code)
    if not text:
        raise ValidationError("Enter a code.", field="code")
    if not CODE_RE.match(text):
        raise ValidationError(
            "3 to 64 letters, digits, dashes or underscores, starting with a letter or digit.",
            field="code",
        )
    return text


@service
def add_coupon_code(promotion: Promotion, *, code: Any, by: Any) -> CouponCode:
    """One code (e.g. SUMMER) for the promotion; codes are unique across promotions."""
    text = _clean_code(code)
    if db.session.scalar(select(CouponCode.id).where(CouponCode.code == text)):
        raise DuplicateValue(f"The code {text} exists already.", field="code")
    coupon = CouponCode(promotion_id=promotion.id, code=text, created_at=utcnow())
    db.session.add(coupon)
    db.session.flush()
    promotion_changed(promotion)
    audit.record(by, "promotion.code_add", promotion, after={"code": text, "code_id": coupon.id})
    return coupon


@service
def remove_coupon_code(coupon: CouponCode, *, by: Any) -> None:
    """Only a code no order used goes; a used one stays for the record."""
    used = db.session.scalar(
        select(func.count(Redemption.id)).where(Redemption.coupon_code_id == coupon.id)
    )
    if used:
        raise InvalidTransition("Orders used this code: it cannot be removed.", field="code")
    promotion = db.session.get(Promotion, coupon.promotion_id)
    audit.record(by, "promotion.code_remove", promotion, before={"code": coupon.code})
    db.session.delete(coupon)
    if promotion is not None:
        promotion_changed(promotion)


def _random_code(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def generate_coupon_codes(
    promotion: Promotion,
    *,
    count: Any,
    by: Any,
    prefix: Any = "",
    length: Any = 8,
    batch: str | None = None,
) -> str:
    """`count` new unique codes `<prefix><length random symbols>`; returns the batch label
    (export that batch as CSV). All or none."""
    errors: dict[str, list[str]] = {}
    try:
        count = int(count)
        if not 1 <= count <= MAX_GENERATE:
            raise ValueError
    except (TypeError, ValueError):
        errors["count"] = [f"Enter a number from 1 to {MAX_GENERATE:,}."]
        count = 0
    prefix = normalize_code(prefix)
    if prefix and not PREFIX_RE.match(prefix):
        errors["prefix"] = ["Up to 20 letters, digits, dashes or underscores."]
    try:
        length = int(length)
        if not 6 <= length <= 20:
            raise ValueError
    except (TypeError, ValueError):
        errors["length"] = ["From 6 to 20 random characters."]
        length = 8
    if count and not errors and len(ALPHABET) ** length < count * 1000:
        errors["length"] = ["Too few random characters for that many codes: use more."]
    if len(prefix) + length > 64:
        errors["length"] = ["Prefix and random part together are at most 64 characters."]
    if errors:
        raise ValidationError(errors=errors)
    now = utcnow()
    label = (batch or f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}")[:40]
    codes: set[str] = set()
    while len(codes) < count:
        wanted = count - len(codes)
        fresh = {_random_code(prefix, length) for _ in range(wanted)} - codes
        for start in range(0, len(fresh), CHUNK):
            chunk = sorted(fresh)[start : start + CHUNK]
            taken = set(
                db.session.scalars(select(CouponCode.code).where(CouponCode.code.in_(chunk)))
            )
            fresh -= taken
        codes |= fresh
    with transaction():
        rows = [
            {
                "promotion_id": promotion.id,
                "code": code,
                "batch": label,
                "times_used": 0,
                "created_at": now,
            }
            for code in sorted(codes)
        ]
        for start in range(0, len(rows), CHUNK):
            db.session.execute(insert(CouponCode), rows[start : start + CHUNK])
        promotion_changed(promotion)
        audit.record(
            by,
            "promotion.codes_generate",
            promotion,
            after={"count": count, "prefix": prefix, "length": length, "batch": label},
        )
    return label


def coupon_codes_csv(promotion: Promotion, *, batch: str | None = None) -> Iterator[str]:
    """The promotion's codes as CSV text chunks (header first), streamed in pages."""
    out = SafeCsv(quote_all=False)  # a promotion named "=..." must not run (csv_safe)
    out.row(["code", "promotion", "batch", "times_used", "created_at"])
    yield out.take()
    last = 0
    while True:
        stmt = (
            select(CouponCode)
            .where(CouponCode.promotion_id == promotion.id, CouponCode.id > last)
            .order_by(CouponCode.id)
            .limit(CHUNK)
        )
        if batch:
            stmt = stmt.where(CouponCode.batch == batch)
        page = list(db.session.scalars(stmt))
        if not page:
            return
        for coupon in page:
            out.row(
                [
                    coupon.code,
                    promotion.name,
                    coupon.batch,
                    coupon.times_used,
                    coupon.created_at.isoformat(timespec="seconds"),
                ]
            )
        yield out.take()
        last = page[-1].id


def export_coupon_codes(promotion: Promotion, *, batch: str | None = None) -> str:
    return "".join(coupon_codes_csv(promotion, batch=batch))


# -- codes shoppers enter -----------------------------------------------------------------------


def entered_codes(reference: str | None) -> tuple[str, ...]:
    if not reference:
        return ()
    code = db.session.scalar(select(CouponEntry.code).where(CouponEntry.reference == reference))
    return (code,) if code else ()


def entered_code_of(reference: ColumnElement[str]) -> ScalarSelect[str]:
    """The code entered under `reference` (one per reference) as a column of another query,
    so loading a checkout brings its code along."""
    return select(CouponEntry.code).where(CouponEntry.reference == reference).scalar_subquery()


def check_enterable(code: Any, *, now: datetime | None = None) -> str:
    """A code a shopper may enter: it exists, its promotion is on (or scheduled), and it is
    not used up. Whether the cart qualifies is said later, next to the code."""
    text = normalize_code(code)
    if not text:
        raise ValidationError("Enter a discount code.", field="coupon_code")
    found = db.session.execute(
        select(CouponCode, Promotion)
        .join(Promotion, Promotion.id == CouponCode.promotion_id)
        .where(CouponCode.code == text)
    ).first()
    if found is None:
        raise ValidationError(f"{text} is not a valid code.", field="coupon_code")
    coupon, promotion = found
    status = promotion.status_at(now or utcnow())
    if status not in (ACTIVE, SCHEDULED):
        raise ValidationError(f"{text} is not active.", field="coupon_code")
    limit = promotion.usage_limit_per_code
    if limit is not None and coupon.times_used >= limit:
        raise ValidationError(f"{text} has been used up.", field="coupon_code")
    if promotion.usage_limit is not None and promotion.times_used >= promotion.usage_limit:
        raise ValidationError(f"{text} has been used up.", field="coupon_code")
    return text


def check_entered(code: Any, *, attempt_key: str | None, client: str | None) -> str:
    """`check_enterable` behind the guessing budgets: codes refused per cart or checkout
    (`attempt_key`) and per client address, each COUPON_*_RATE_LIMIT. A spent budget refuses
    any code, right or wrong, with TooManyAttempts (429) until it has room again."""
    config = current_app.config
    budgets = (
        (config["COUPON_CART_RATE_LIMIT"], "coupon-cart", attempt_key),
        (config["COUPON_ADDRESS_RATE_LIMIT"], "coupon-address", client),
    )
    waits = [w for s, scope, key in budgets if (w := throttle.retry_after(s, scope, key))]
    if waits:
        raise TooManyAttempts(
            f"Too many codes were tried. Please try again in {throttle.in_words(max(waits))}.",
            field="coupon_code",
            retry_after=max(waits),
        )
    try:
        return check_enterable(code)
    except ValidationError:
        if normalize_code(code):
            for setting, scope, key in budgets:
                throttle.spend(setting, scope, key)
        raise


@service
def enter_code(reference: str, code: str) -> None:
    """Remember the code for a cart or checkout (replacing one entered before)."""
    entry = db.session.get(CouponEntry, reference)
    if entry is None:
        db.session.add(CouponEntry(reference=reference, code=code, entered_at=utcnow()))
    else:
        entry.code = code
        entry.entered_at = utcnow()


@service
def forget_code(reference: str) -> None:
    db.session.execute(delete(CouponEntry).where(CouponEntry.reference == reference))


@service
def copy_code(source: str, target: str) -> None:
    """Entering checkout: the cart's code goes with it (inside the caller's transaction)."""
    codes = entered_codes(source)
    if codes:
        enter_code(target, codes[0])
    else:
        forget_code(target)
