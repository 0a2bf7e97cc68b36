"""Coupon codes: single codes, 10,000 generated unique codes with a prefix, the CSV export,
and which codes a shopper may enter."""

from __future__ import annotations

import csv
import io
import time

import pytest
from sqlalchemy import func, select

from commerce.errors import DuplicateValue, ValidationError
from commerce.extensions import db
from commerce.promotions.coupons import (
    ALPHABET,
    add_coupon_code,
    check_enterable,
    export_coupon_codes,
    generate_coupon_codes,
)
from commerce.promotions.models import CouponCode
from commerce.promotions.services import pause_promotion
from tests.commerce.promotions.conftest import price, row

TEN = [row("amount_off_order", amount=1000)]


def test_ten_thousand_unique_codes_with_a_prefix_exported_as_csv(shop, promo):
    p = promo(TEN, requires_coupon=True, code="SEED", usage_limit_per_code=1)
    started = time.perf_counter()
    batch = generate_coupon_codes(p, count=10_000, prefix="vip-", by=None)
    assert time.perf_counter() - started < 20
    codes = list(db.session.scalars(select(CouponCode.code).where(CouponCode.batch == batch)))
    assert len(codes) == len(set(codes)) == 10_000
    assert all(c.startswith("VIP-") and len(c) == 12 for c in codes)
    assert all(set(c[4:]) <= set(ALPHABET) for c in codes)
    rows = list(csv.reader(io.StringIO(export_coupon_codes(p, batch=batch))))
    assert rows[0] == ["code", "promotion", "batch", "times_used", "created_at"]
    assert sorted(r[0] for r in rows[1:]) == sorted(codes)
    assert len(list(csv.reader(io.StringIO(export_coupon_codes(p))))) == 10_002  # + SEED
    one = codes[1234]
    assert price({shop.tee: 5}, coupon_codes=(one.lower(),)).totals.discounts == 1000


def test_generation_is_checked(shop, promo):
    p = promo(TEN)
    with pytest.raises(ValidationError) as caught:
        generate_coupon_codes(p, count=0, prefix="no spaces!", length=3, by=None)
    assert set(caught.value.errors) == {"count", "prefix", "length"}
    assert db.session.scalar(select(func.count(CouponCode.id))) == 0


def test_codes_are_unique_and_well_formed(shop, promo):
    p = promo(TEN)
    add_coupon_code(p, code="summer-10", by=None)
    with pytest.raises(DuplicateValue):
        add_coupon_code(p, code="SUMMER-10", by=None)
    with pytest.raises(ValidationError):
        add_coupon_code(p, code="a", by=None)


def test_which_codes_a_shopper_may_enter(shop, promo):
    p = promo(TEN, requires_coupon=True, code="SUMMER", usage_limit_per_code=1)
    assert check_enterable(" summer ") == "SUMMER"
    for code, message in [
        ("", "Enter a discount code."),
        ("WINTER", "WINTER is not a valid code."),
    ]:
        with pytest.raises(ValidationError) as caught:
            check_enterable(code)
        assert caught.value.errors == {"coupon_code": [message]}
    coupon = db.session.scalar(select(CouponCode).where(CouponCode.code == "SUMMER"))
    coupon.times_used = 1
    db.session.commit()
    with pytest.raises(ValidationError, match=r"SUMMER has been used up\."):
        check_enterable("SUMMER")
    coupon.times_used = 0
    db.session.commit()
    pause_promotion(p, by=None)
    with pytest.raises(ValidationError, match=r"SUMMER is not active\."):
        check_enterable("SUMMER")


def test_an_entered_code_says_why_it_does_not_apply(shop, promo):
    promo(TEN, [row("subtotal_at_least", amount=5000)], requires_coupon=True, code="BIG")
    cart = price({shop.tee: 2}, coupon_codes=("big", "nope"))
    messages = [(n.code, n.applied, n.message) for n in cart.notes_for("coupon_code")]
    assert messages == [
        ("BIG", False, "BIG: subtotal $20.00 is below $50.00."),
        ("NOPE", False, "NOPE is not a valid code."),
    ]
    assert cart.coupon_problems
    cart = price({shop.tee: 5}, coupon_codes=("big",))
    assert [(n.applied, n.message) for n in cart.notes_for("coupon_code")] == [
        (True, "BIG applied.")
    ]
    assert not cart.coupon_problems
