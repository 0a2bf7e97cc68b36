"""axe-core (vendored from npm in tests/browser/vendor/axe-core) finds no critical or serious
violations on the pages people use most: the console's dashboard, product list, product editor
and order page, and the shop's product page and checkout.

axe is injected into each page after it loads; the context bypasses the page's CSP only so the
test can add that script (the pages themselves are the ones served, CSP and all).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, TIMEOUT_MS, LiveServer, unique

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"critical", "serious"}


def violations(page: Page) -> list[str]:
    """axe's critical and serious findings on the page as it is now, one line each."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        + (f" ({len(v['nodes'])} in all)" if len(v["nodes"]) > 5 else "")
        + ": "
        + " | ".join(" ".join(n.get("failureSummary", "").split())[-160:] for n in v["nodes"])
        for v in found
        if v.get("impact") in BLOCKING
    ]


def assert_none(found: dict[str, list[str]]) -> None:
    lines = [f"{page}: {finding}" for page, findings in found.items() for finding in findings]
    assert not lines, "axe found:\n" + "\n".join(lines)


@pytest.fixture
def axe_context(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    live_server.claim_shared_extensions()
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def data(live_server: LiveServer) -> dict[str, Any]:
    """An admin, a product with two sizes in stock, and an order placed through the checkout."""
    from bench._server import prepare_us_checkout
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.staff.services import create_staff
    from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

    with live_server.app_context():
        prepare_us_checkout()
        shop = build_checkout_shop(stock=8)
        email = f"axe{os.getpid()}-{unique('a').split()[-1]}@browser.example.com"
        create_staff(email, role="admin", name="Ada Admin", password=PASSWORD)
        cart = add_to_cart(None, variant_id=shop.medium, quantity=1)
        checkout = start_checkout(cart)
        save_information(checkout, email="axe.shopper@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        order = place_order(checkout.key, card=TEST_CARD).order
        from commerce.drafts.services import add_draft_custom_line, add_draft_line, create_draft

        draft = create_draft(email="axe.shopper@example.com", by=None)
        add_draft_line(draft, variant_id=shop.small, quantity=1, by=None)
        add_draft_custom_line(draft, title="Engraving", unit_price="5", by=None)
        return {
            "draft_id": draft.id,
            "admin": email,
            "order_id": order.id,
            "product_id": shop.product.id,
            "handle": shop.product.handle,
        }


def sign_in(page: Page, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")


def test_console_pages_have_no_serious_violations(axe_context: Any, data: dict[str, Any]):
    page = axe_context.new_page()
    sign_in(page, data["admin"])
    found: dict[str, list[str]] = {}
    for name, url in [
        ("dashboard", "/console/"),
        ("product list", "/console/products"),
        ("product editor", f"/console/products/{data['product_id']}"),
        ("order page", f"/console/orders/{data['order_id']}"),
        ("draft with a custom item", f"/console/orders/drafts/{data['draft_id']}"),
    ]:
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        found[name] = violations(page)
    assert_none(found)


def test_shop_product_page_and_checkout_have_no_serious_violations(
    axe_context: Any, data: dict[str, Any]
):
    page = axe_context.new_page()
    found: dict[str, list[str]] = {}

    page.goto(f"/products/{data['handle']}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    found["product page"] = violations(page)

    page.get_by_label("Size").select_option("M")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-link")).to_contain_text("(1")
    page.goto("/cart")
    found["cart"] = violations(page)
    page.get_by_role("button", name="Check out").click()
    expect(page.get_by_role("heading", name="Contact and shipping address")).to_be_visible()
    found["checkout information"] = violations(page)
    page.get_by_label("Email").fill("axe.shopper@example.com")
    page.get_by_label("Full name").fill("Ada Axe")
    page.get_by_label("Address line 1").fill("500 Howard Street")
    page.get_by_label("City").fill("San Francisco")
    page.get_by_label("State / province / region").fill("CA")
    page.get_by_label("Postal code").fill("94105")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Continue to shipping").click()
    expect(page.get_by_role("heading", name="Shipping method")).to_be_visible()
    found["checkout shipping"] = violations(page)
    page.get_by_label(re.compile("Standard")).check()
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", name="Review and pay")).to_be_visible()
    found["checkout payment"] = violations(page)
    assert_none(found)
