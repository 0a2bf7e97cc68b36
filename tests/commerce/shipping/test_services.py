"""Shipping methods: validation at fields and rows, audit, and the options for a parcel."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.errors import DuplicateValue, ValidationError
from commerce.extensions import db
from commerce.shipping.services import (
    create_shipping_method,
    deactivate_shipping_method,
    shipping_options,
    update_shipping_method,
)

BRACKETS = [
    {"up_to_grams": 500, "price": 495},
    {"up_to_grams": 2000, "price": 795},
    {"up_to_grams": 10000, "price": 1495},
]


def flat(code="STD", **kw):
    kw.setdefault("name", f"Method {code}")
    kw.setdefault("price", 500)
    return create_shipping_method(code=code, by=None, **kw)


def by_weight(code="PARCEL", brackets=None, **kw):
    kw.setdefault("name", f"Method {code}")
    return create_shipping_method(
        code=code,
        kind="weight",
        brackets=BRACKETS if brackets is None else brackets,
        by=None,
        **kw,
    )


def errors_of(call):
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.errors


class TestValidation:
    def test_required_fields_are_named(self):
        errors = errors_of(
            lambda: create_shipping_method(name=" ", code="", kind="boat", by=None, position=-1)
        )
        assert set(errors) == {"name", "code", "kind", "position"}

    def test_flat_needs_a_non_negative_price(self):
        assert "price" in errors_of(lambda: flat(price=None))
        assert "price" in errors_of(lambda: flat(price=-1))
        assert "free_over" in errors_of(lambda: flat(free_over=-5))

    def test_countries_are_iso_alpha2(self):
        method = flat(countries="de, at ch DE")
        assert method.countries == ["DE", "AT", "CH"]
        errors = errors_of(lambda: flat(code="X", countries=["DE", "XX", "GER"]))
        assert errors["countries"] == ["Unknown country codes: XX, GER."]

    @pytest.mark.parametrize(
        ("brackets", "message"),
        [
            ([], "Add at least one weight bracket."),
            (
                [{"up_to_grams": 1000, "price": 5}, {"up_to_grams": 500, "price": 7}],
                "Row 2: weights must go up (500 g after 1000 g).",
            ),
            (
                [{"up_to_grams": 500, "price": 5}, {"up_to_grams": 500, "price": 7}],
                "Row 2: 500 g appears twice.",
            ),
            ([{"up_to_grams": -1, "price": 5}], "Row 1: the weight must be a whole number"),
            ([{"up_to_grams": 100, "price": -5}], "Row 1: the price must be an amount"),
            (
                [{"up_to_grams": None, "price": 5}, {"up_to_grams": 500, "price": 7}],
                "Row 1: only the last row may be open-ended.",
            ),
        ],
    )
    def test_brackets_are_checked_row_by_row(self, brackets, message):
        errors = errors_of(lambda: by_weight(brackets=brackets))
        assert any(m.startswith(message) for m in errors["brackets"]), errors

    def test_codes_are_unique_case_insensitively(self):
        flat(code="std")
        with pytest.raises(DuplicateValue) as info:
            flat(code="STD")
        assert info.value.errors == {"code": [info.value.message]}


class TestAudit:
    def test_create_update_deactivate_are_audited(self):
        method = flat(code="AUD")
        update_shipping_method(method, by=None, price=650, countries=["FR"])
        assert (method.price, method.countries) == (650, ["FR"])
        update_shipping_method(method, by=None, price=650)  # no change, no entry
        deactivate_shipping_method(method, by=None)
        assert method.is_active is False
        actions = db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_type == "shipping_method")
            .order_by(AuditEntry.id)
        ).all()
        assert actions == [
            "shipping_method.create",
            "shipping_method.update",
            "shipping_method.deactivate",
        ]

    def test_switching_to_flat_drops_brackets(self):
        method = by_weight()
        update_shipping_method(method, by=None, kind="flat", price=300)
        assert (method.brackets, method.price) == ([], 300)

    def test_unknown_fields_are_refused(self):
        with pytest.raises(TypeError):
            update_shipping_method(flat(code="T"), by=None, colour="red")


class TestOptions:
    def test_only_methods_for_the_country(self):
        everywhere = flat(code="WORLD", position=3)
        eu = flat(code="EU", countries=["DE", "FR"], position=1)
        flat(code="US", countries=["US"], position=2)
        assert [m.code for m, _ in shipping_options("de", 100, 1000)] == ["EU", "WORLD"]
        assert [m for m, _ in shipping_options("JP", 100, 1000)] == [everywhere]
        assert eu not in [m for m, _ in shipping_options("US", 100, 1000)]

    def test_inactive_methods_are_not_offered(self):
        method = flat(code="OLD")
        deactivate_shipping_method(method, by=None)
        assert shipping_options("DE", 100, 1000) == []

    def test_weight_picks_the_first_bracket_that_fits(self):
        method = by_weight()
        assert shipping_options("DE", 0, 0) == [(method, 495)]
        assert shipping_options("DE", 500, 0) == [(method, 495)]
        assert shipping_options("DE", 501, 0) == [(method, 795)]
        assert shipping_options("DE", 10000, 0) == [(method, 1495)]

    def test_weight_above_every_bracket_excludes_the_method(self):
        by_weight()
        parcel_flat = flat(code="FREIGHT")
        assert [m for m, _ in shipping_options("DE", 10001, 0)] == [parcel_flat]

    def test_open_ended_last_bracket_takes_any_weight(self):
        method = by_weight(brackets=[*BRACKETS, {"up_to_grams": None, "price": 2995}])
        assert shipping_options("DE", 500_000, 0) == [(method, 2995)]

    def test_free_over_threshold(self):
        method = flat(code="FREE50", price=500, free_over=5000)
        heavy = by_weight(free_over=10000)
        assert shipping_options("DE", 100, 4999) == [(method, 500), (heavy, 495)]
        assert shipping_options("DE", 100, 5000) == [(method, 0), (heavy, 495)]
        assert shipping_options("DE", 100, 10000) == [(method, 0), (heavy, 0)]
        # a parcel too heavy for the brackets stays excluded even when it would be free
        assert shipping_options("DE", 20000, 10000) == [(method, 0)]

    def test_negative_weight_is_refused(self):
        with pytest.raises(ValidationError):
            shipping_options("DE", -1, 0)
