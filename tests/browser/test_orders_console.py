"""A support agent in a real browser: opens Orders, types the shopper's email in the quick
search, and opens the matching order with the keyboard (j, Enter)."""

from __future__ import annotations

import os
import re
from itertools import count
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap, unique

pytestmark = pytest.mark.browser

_n = count(1)


def seed(live_server: LiveServer) -> dict[str, Any]:
    """A support agent, and two orders placed through the real checkout (one to find, one to
    be filtered away). US shipping and tax are set up once per database."""

    from bench._server import prepare_us_checkout
    from commerce.catalog.services import create_product
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.inventory.services import receive_stock
    from commerce.staff.services import create_staff
    from tests.conftest import TEST_CARD, US_ADDRESS

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        prepare_us_checkout()
        agent = f"support{n}@browser.example.com"
        create_staff(agent, role="support", name="Sue Support", password=PASSWORD)
        product = create_product(
            title=unique("Console Tee"), price=1900, sku=f"ORD-{n}", status="active", by=None
        )
        variant_id = product.variants[0].id
        receive_stock(variant_id, quantity=10, by=None)

        def order_for(email: str, name: str) -> Any:
            cart = add_to_cart(None, variant_id=variant_id, quantity=1)
            checkout = start_checkout(cart)
            save_information(checkout, email=email, address={**US_ADDRESS, "name": name})
            choose_shipping_method(checkout, code="STD")
            return place_order(checkout.key, card=TEST_CARD).order

        wanted = order_for(f"wanted{n}@example.com", "Wanda Wanted")
        order_for(f"other{n}@example.com", "Otto Other")
        return {
            "agent": agent,
            "email": wanted.email,
            "order_id": wanted.id,
            "order_name": wanted.name,
        }


def test_support_finds_an_order_by_email(anon_page: Page, live_server: LiveServer) -> None:
    data = seed(live_server)
    page = anon_page
    page.goto("/console/login")
    page.get_by_label("Email").fill(data["agent"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    rows = page.locator("#list tbody tr")
    expect(rows.first).to_be_visible()

    # The quick search filters as one types: htmx swaps the list and puts the query in the URL.
    search = page.get_by_label("Search")
    search.click()
    search.type(data["email"], delay=10)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(data["order_name"])
    expect(rows.first).to_contain_text("Wanda Wanted")
    expect(page).to_have_url(re.compile(r"/console/orders\?.*q=wanted"))
    snap(page, "orders-search")

    # Keyboard: leave the search box, j puts the cursor on the row, Enter opens the order.
    page.get_by_role("heading", name="Orders", exact=True).click()
    page.keyboard.press("j")
    expect(rows.first).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Order {data['order_name']}")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/console/orders/{data['order_id']}")
    expect(page.get_by_text(data["email"]).first).to_be_visible()
    snap(page, "orders-opened")

    # The breadcrumb leads back to the list.
    page.locator(".crumb").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
