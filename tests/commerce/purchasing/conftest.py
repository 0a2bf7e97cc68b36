"""Purchasing fixtures: a location, a supplier and variants, made through the real services."""

from __future__ import annotations

import pytest

from commerce.purchasing.services import create_supplier
from tests.commerce.inventory.conftest import (  # noqa: F401 (fixtures)
    add_location,
    main_wh,
    make_location,
    make_variant,
    second_wh,
)


@pytest.fixture
def staff(make_staff):
    return make_staff("warehouse")


@pytest.fixture
def supplier(app, staff):
    return create_supplier(
        by=staff,
        name="Roastery Ltd",
        email="orders@roastery.example",
        phone="+44 20 7946 0000",
        lead_time_days=10,
        currency="USD",
    )
