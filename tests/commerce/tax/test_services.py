"""Tax rates: validation, audit, region over country, the shop setting, rounding."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.config import load_config
from commerce.errors import DuplicateValue, ValidationError
from commerce.extensions import db
from commerce.tax.services import (
    compute_tax,
    create_tax_rate,
    deactivate_tax_rate,
    tax_for,
    update_tax_rate,
)


def rate(country="DE", rate_bps=1900, region="", **kw):
    kw.setdefault("name", "VAT")
    return create_tax_rate(country=country, region=region, rate_bps=rate_bps, by=None, **kw)


class TestValidation:
    def test_fields_are_named(self):
        with pytest.raises(ValidationError) as info:
            create_tax_rate(country="XX", region="C-A", name="", rate_bps=10001, by=None)
        assert set(info.value.errors) == {"country", "region", "name", "rate_bps"}

    def test_rate_must_be_an_int(self):
        with pytest.raises(ValidationError) as info:
            rate(rate_bps=19.0)
        assert "rate_bps" in info.value.errors

    def test_one_rate_per_country_and_region(self):
        rate("us", region="ca", rate_bps=725)
        rate("US", rate_bps=0, name="No federal sales tax")
        with pytest.raises(DuplicateValue) as info:
            rate("US", region="CA", rate_bps=800)
        assert "region" in info.value.errors
        with pytest.raises(DuplicateValue) as info:
            rate("US", rate_bps=100)
        assert "country" in info.value.errors

    def test_create_update_deactivate_are_audited(self):
        vat = rate()
        update_tax_rate(vat, by=None, rate_bps=2000, name="MwSt")
        assert (vat.rate_bps, vat.name) == (2000, "MwSt")
        deactivate_tax_rate(vat, by=None)
        actions = db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_type == "tax_rate")
            .order_by(AuditEntry.id)
        ).all()
        assert actions == ["tax_rate.create", "tax_rate.update", "tax_rate.deactivate"]


class TestTaxFor:
    def test_region_rate_wins_over_country_rate(self):
        rate("US", rate_bps=500, name="Federal (example)")
        rate("US", region="CA", rate_bps=725, name="CA sales tax")
        assert tax_for("US", "CA", 10000, prices_include_tax=False) == (725, 725)
        assert tax_for("us", "ca", 10000, prices_include_tax=False) == (725, 725)
        # a region without its own rate falls back to the country's
        assert tax_for("US", "OR", 10000, prices_include_tax=False) == (500, 500)
        assert tax_for("US", None, 10000, prices_include_tax=False) == (500, 500)

    def test_no_rate_means_no_tax(self):
        assert tax_for("JP", None, 10000, prices_include_tax=False) == (0, 0)

    def test_inactive_rates_are_ignored(self):
        rate("US", rate_bps=500)
        ca = rate("US", region="CA", rate_bps=725)
        deactivate_tax_rate(ca, by=None)
        assert tax_for("US", "CA", 10000, prices_include_tax=False) == (500, 500)

    def test_inclusive_and_exclusive(self):
        rate("DE", rate_bps=1900)
        assert tax_for("DE", None, 11900, prices_include_tax=True) == (1900, 1900)
        assert tax_for("DE", None, 10000, prices_include_tax=False) == (1900, 1900)

    def test_reads_the_shop_setting(self, app, monkeypatch):
        rate("GB", rate_bps=2000)
        monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", True)
        assert tax_for("GB", None, 1200) == (2000, 200)
        monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
        assert tax_for("GB", None, 1200) == (2000, 240)

    def test_setting_comes_from_the_environment(self, monkeypatch, tmp_path):
        monkeypatch.delenv("PRICES_INCLUDE_TAX", raising=False)
        assert load_config({"INSTANCE_PATH": tmp_path})["PRICES_INCLUDE_TAX"] is False
        monkeypatch.setenv("PRICES_INCLUDE_TAX", "true")
        assert load_config({"INSTANCE_PATH": tmp_path})["PRICES_INCLUDE_TAX"] is True


class TestRounding:
    @pytest.mark.parametrize(
        ("amount", "rate_bps", "inclusive", "tax"),
        [
            (50, 1000, False, 5),  # exact
            (25, 1000, False, 2),  # 2.5 -> 2 (half to even)
            (35, 1000, False, 4),  # 3.5 -> 4 (half to even)
            (26, 1000, False, 3),  # 2.6 -> 3
            (1, 5000, False, 0),  # 0.5 -> 0
            (3, 5000, False, 2),  # 1.5 -> 2
            (105, 500, True, 5),  # 105 * 500 / 10500 = 5 exactly
            (21, 500, True, 1),  # 1.0
            (1050, 1000, True, 95),  # 95.45 -> 95
            (999, 1900, True, 160),  # 159.50... -> 160 (above half)
            (0, 2000, True, 0),
        ],
    )
    def test_half_even_in_minor_units(self, amount, rate_bps, inclusive, tax):
        assert compute_tax(amount, rate_bps, prices_include_tax=inclusive) == tax

    def test_refuses_bad_input(self):
        with pytest.raises(ValueError):
            compute_tax(-1, 1000, prices_include_tax=False)
        with pytest.raises(ValueError):
            compute_tax(100, 10001, prices_include_tax=False)
