"""The shop on a phone (issue 16: 7), 390 x 844: the cart and the account's order history fit
the screen's width, and search results start on the first screen (filters behind a button)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap, unique

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def seed(live_server: LiveServer) -> dict[str, Any]:
    """A shopper with an account and a placed order, and a product to put in a cart."""
    from werkzeug.security import generate_password_hash

    from bench._server import US_ADDRESS, prepare_us_checkout
    from commerce.catalog.services import create_product
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.customers.models import Customer
    from commerce.extensions import db
    from commerce.inventory.services import receive_stock
    from tests.conftest import TEST_CARD

    tag = unique("Phone").split(" ", 1)[1].replace("-", "")
    with live_server.app_context():
        prepare_us_checkout()
        products = []
        for n in range(3):
            product = create_product(
                title=f"Heavyweight Organic Cotton Pocket T-Shirt {tag} {n}",
                price=2500 + n,
                sku=f"PHONE-{tag}-{n}",
                vendor=f"Mill {n}",  # facets enough to fill a phone's screen
                tags=[f"{word}-{n}" for word in ("organic", "pocket", "heavy", "summer")],
                status="active",
                by=None,
            )
            receive_stock(product.variants[0].id, quantity=10, by=None)
            products.append(product)
        email = f"phone.{tag}@example.com"
        customer = Customer(
            email=email, name="Pat Phone", password_hash=generate_password_hash(PASSWORD)
        )
        db.session.add(customer)
        db.session.commit()
        cart = add_to_cart(
            None, variant_id=products[0].variants[0].id, quantity=2, customer_id=customer.id
        )
        checkout = start_checkout(cart, customer=customer)
        save_information(checkout, email=email, address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        place_order(checkout.key, card=TEST_CARD)
        return {"email": email, "tag": tag, "handle": products[1].handle}


def fits(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url}: the page is {width}px wide"


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Any:
    live_server.claim_shared_extensions()
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True)
    context.set_default_timeout(5_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_cart_and_order_history_fit_a_phone(phone: Page, live_server: LiveServer) -> None:
    page = phone
    seeded = seed(live_server)

    page.goto(f"/products/{seeded['handle']}")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status").filter(has_text="Added to your cart")).to_be_visible()
    page.goto("/cart")
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    snap(page, "phone-cart")
    fits(page)

    page.goto("/account/login")
    page.get_by_label("Email").fill(seeded["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account")
    expect(page.locator("main")).to_contain_text("Order")
    snap(page, "phone-account")
    fits(page)


def test_search_results_start_on_the_first_screen(phone: Page, live_server: LiveServer) -> None:
    page = phone
    seeded = seed(live_server)
    page.goto(f"/search?q={seeded['tag']}")
    first = page.locator(".grid-products .card").first
    expect(first).to_be_in_viewport()
    fits(page)
    toggle = page.get_by_role("button", name="Filters")
    expect(toggle).to_be_visible()
    expect(page.get_by_label("Sort by")).to_be_hidden()
    toggle.click()
    expect(page.get_by_label("Sort by")).to_be_visible()
    snap(page, "phone-search")
