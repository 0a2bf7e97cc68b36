"""Storefront fixtures: active products with stock, images and collections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from commerce.catalog.models import Media
from commerce.extensions import db
from commerce.inventory.models import Location


@pytest.fixture
def location(app: Any) -> Location:
    found = Location(name="Main warehouse", code="SHOP-MAIN", priority=1)
    db.session.add(found)
    db.session.commit()
    return found


@pytest.fixture
def stock(location: Location) -> Callable[..., None]:
    """stock(variant, 10): receive units at the main location."""
    from commerce.inventory.services import receive_stock

    def give(variant: Any, quantity: int) -> None:
        receive_stock(variant.id, quantity=quantity, by=None, location_id=location.id)

    return give


@pytest.fixture
def active_product(make_product: Callable[..., Any]) -> Callable[..., Any]:
    def make(title: str | None = None, **kw: Any) -> Any:
        kw.setdefault("status", "active")
        return make_product(title, **kw)

    return make


@pytest.fixture
def add_image() -> Callable[..., Media]:
    def add(product: Any, alt: str = "", position: int = 1) -> Media:
        media = Media(
            product_id=product.id,
            kind="external",
            external_url=f"https://img.example.com/{product.id}-{position}.jpg",
            alt=alt,
            position=position,
        )
        db.session.add(media)
        db.session.commit()
        return media

    return add
