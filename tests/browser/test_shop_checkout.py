"""A shopper in a real browser: search, pick a variant, add to cart, check out as a guest with
the test card, and see the confirmation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap

pytestmark = pytest.mark.browser


def seed(live_server: LiveServer) -> Any:
    from tests.conftest import build_checkout_shop

    with live_server.app_context():
        shop = build_checkout_shop(stock=5)
        return shop.product.title, shop.medium


def test_guest_searches_adds_to_cart_and_checks_out(anon_page: Page, live_server: LiveServer):
    page = anon_page
    title, medium = seed(live_server)

    page.goto("/")
    page.get_by_role("combobox", name="Search products").fill(title)
    page.get_by_role("combobox", name="Search products").press("Enter")
    page.get_by_role("link", name=title).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)

    page.get_by_label("Size").select_option("M")  # htmx swaps the buy box for variant M
    expect(page.locator("#add-to-cart input[name=variant_id]")).to_have_value(str(medium))
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status").filter(has_text="Added to your cart")).to_be_visible()
    expect(page.locator("#cart-link")).to_contain_text("(2")
    snap(page, "shop-added")

    page.get_by_role("link", name="View cart and check out").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    page.get_by_role("button", name="Check out").click()

    expect(page.get_by_role("heading", name="Contact and shipping address")).to_be_visible()
    expect(page.locator("[data-countdown]")).to_have_text(re.compile(r"^\d+:\d\d$"))
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Continue to shipping").click()
    expect(page.get_by_text("Enter a valid email address")).to_be_visible()
    expect(page.get_by_text("Enter the street address.")).to_be_visible()

    page.get_by_label("Email").fill("browser.shopper@example.com")
    page.get_by_label("Full name").fill("Bea Browser")
    page.get_by_label("Address line 1").fill("500 Howard Street")
    page.get_by_label("City").fill("San Francisco")
    page.get_by_label("State / province / region").fill("CA")
    page.get_by_label("Postal code").fill("94105")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Continue to shipping").click()

    expect(page.get_by_role("heading", name="Shipping method")).to_be_visible()
    page.get_by_label(re.compile("Standard")).check()
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("heading", name="Review and pay")).to_be_visible()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2031")
    page.get_by_label("Security code (CVC)").fill("123")
    snap(page, "shop-review")
    # 2 x $25.00 + $5.00 shipping + CA tax 7.25% (3.62 + 0.36)
    page.get_by_role("button", name=re.compile(r"Place order · \$58\.98")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Thank you! Order #\d+"))
    expect(page.get_by_text("browser.shopper@example.com")).to_be_visible()
    expect(page.locator(".order-page")).to_contain_text("$58.98")
    snap(page, "shop-confirmation")

    with live_server.app_context():
        from sqlalchemy import select

        from commerce.extensions import db
        from commerce.orders.models import Order

        order = db.session.scalar(select(Order).where(Order.email == "browser.shopper@example.com"))
        assert order is not None and order.total == 5898
        assert [(line.variant_id, line.quantity) for line in order.lines] == [(medium, 2)]
