"""Orders placed through the real checkout services, and mail settings pointed at tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from tests.conftest import TEST_CARD, US_ADDRESS

SHOP_URL = "https://shop.example"
SHOPPER = "ada@example.com"


@pytest.fixture
def mail_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Embedded mail mode writing into this test's own folder, with a public shop address."""
    folder = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_DIR", str(folder))
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", None)
    monkeypatch.setitem(app.config, "SHOP_URL", SHOP_URL)
    return folder


@pytest.fixture
def place(checkout_shop: Any) -> Callable[..., Any]:
    """place(quantity=2, email=SHOPPER) -> an Order, its order.placed event still pending."""

    def do(quantity: int = 2, *, email: str = SHOPPER) -> Any:
        cart = add_to_cart(None, variant_id=checkout_shop.small, quantity=quantity)
        checkout = start_checkout(cart)
        save_information(checkout, email=email, address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        order = place_order(checkout.key, card=TEST_CARD).order
        assert order is not None
        return order

    return do
