"""Inventory fixtures: locations and stocked variants, made through the real models/services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from commerce.extensions import db
from commerce.inventory.models import Location

_codes = itertools.count(1)


def add_location(name: str | None = None, *, priority: int = 1, active: bool = True) -> Location:
    n = next(_codes)
    location = Location(
        name=name or f"Warehouse {n}", code=f"L{n:04d}", priority=priority, is_active=active
    )
    db.session.add(location)
    db.session.commit()
    return location


@pytest.fixture
def make_location(app) -> Callable[..., Location]:
    return add_location


@pytest.fixture
def main_wh(make_location) -> Location:
    return make_location("Main", priority=1)


@pytest.fixture
def second_wh(make_location) -> Location:
    return make_location("Overflow", priority=2)


@pytest.fixture
def make_variant(make_product) -> Callable[..., Any]:
    """make_variant(**variant_fields) -> the default Variant of a new product."""

    def make(**fields: Any) -> Any:
        variant = make_product().variants[0]
        for name, value in fields.items():
            setattr(variant, name, value)
        db.session.commit()
        return variant

    return make
