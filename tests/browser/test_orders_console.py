"""The support and fulfillment console in a real browser: a support agent finds an order by the
shopper's email (quick search, then j and Enter), refunds one line with restock and downloads
the credit note; a warehouse user packs and ships an order with a tracking number, then prints
packing slips for orders picked in the list."""

from __future__ import annotations

import os
import re
from itertools import count
from typing import Any
from urllib.parse import quote as urlquote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap, unique

pytestmark = pytest.mark.browser

_n = count(1)


def seed(live_server: LiveServer, *, role: str = "support", ship: bool = False) -> dict[str, Any]:
    """A staff member of `role`, and two orders placed through the real checkout (one to find,
    one to be filtered away); with `ship`, the wanted one is shipped through the services."""

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
    from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment
    from commerce.staff.services import create_staff
    from tests.conftest import TEST_CARD, US_ADDRESS

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        prepare_us_checkout()
        agent = f"{role}{n}@browser.example.com"
        create_staff(agent, role=role, name=f"Sam {role.title()}", password=PASSWORD)
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
        other = order_for(f"other{n}@example.com", "Otto Other")
        if ship:
            (location_id,) = pickable(wanted)
            parcel = create_fulfillment(wanted, location_id=location_id, by=None)
            ship_fulfillment(parcel, carrier="UPS", tracking_number=f"1Z{n}", by=None)
        return {
            "agent": agent,
            "other_id": other.id,
            "other_name": other.name,
            "email": wanted.email,
            "order_id": wanted.id,
            "order_name": wanted.name,
        }


def sign_in(page: Page, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")


def pdf_text(path: str) -> str:
    from pypdf import PdfReader

    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(path).pages))


def test_support_finds_an_order_by_email_and_refunds_a_line_with_restock(
    anon_page: Page, live_server: LiveServer
) -> None:
    data = seed(live_server, ship=True)
    page = anon_page
    sign_in(page, data["agent"])

    console_nav = page.get_by_role("navigation", name="Console")
    console_nav.get_by_role("link", name="Orders", exact=True).click()
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
    # the last keystroke's answer is in (the URL follows the swapped list)
    expect(page).to_have_url(re.compile(re.escape("q=" + urlquote(data["email"]))))
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

    # Refund the line: choose units and restock them (into the default location), see the
    # running total, review the quote, confirm.
    page.get_by_role("link", name="Refund…").click()
    expect(page.get_by_role("heading", name="Refund")).to_be_visible()
    page.get_by_label(re.compile(r"^Units of .* to refund$")).fill("1")
    page.get_by_label(re.compile(r"Restock refunded units of")).check()
    expect(page.locator("#refund-total")).to_contain_text("Refund total: $")
    expect(page.get_by_label("Restock into")).to_contain_text("(default)")
    page.get_by_label("Reason").fill("Arrived damaged")
    page.get_by_role("button", name="Review refund").click()
    quote = page.locator("table.refund-quote")
    expect(quote).to_contain_text("Back into")
    total = quote.locator("tfoot th.num").inner_text()  # 19.00 and its sales tax
    assert re.fullmatch(r"\$(19|20)\.\d\d", total), total
    snap(page, "refund-review")
    page.get_by_role("button", name=re.compile(r"^Refund \$")).click()
    expect(page.locator(".refund-answer")).to_contain_text("succeeded")
    page.get_by_role("link", name="Back to the order").click()

    refund = page.locator(".refund").first
    expect(refund).to_contain_text("restocked")
    with page.expect_download() as caught:
        refund.get_by_role("link", name="Credit note (PDF)").click()
    download = caught.value
    assert download.suggested_filename.endswith(".pdf")
    text = pdf_text(download.path())
    assert "Credit note" in text and data["order_name"] in text and total[1:] in text
    with live_server.app_context():
        from commerce.inventory.services import availability
        from commerce.orders.services import get_order

        order = get_order(data["order_id"])
        assert order.payment_status == "partially_refunded"
        variant_id = order.lines[0].variant_id
        assert availability([variant_id])[variant_id].available == 9  # 10 - 2 sold + 1 back

    # The breadcrumb leads back to the list.
    page.locator(".crumb").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()


def test_warehouse_ships_an_order_with_a_tracking_number_and_prints_slips(
    anon_page: Page, live_server: LiveServer
) -> None:
    data = seed(live_server, role="warehouse")
    page = anon_page
    sign_in(page, data["agent"])
    page.goto(f"/console/orders/{data['order_id']}")
    expect(page.get_by_role("heading", name=f"Order {data['order_name']}")).to_be_visible()

    page.get_by_role("button", name="Start parcel").click()
    parcel = page.locator(".parcel").first
    expect(parcel).to_contain_text("Picking")
    parcel.get_by_label("Carrier", exact=True).select_option("DHL")
    parcel.get_by_label("Tracking number").fill("JD014600003828")
    parcel.get_by_role("button", name="Mark shipped").click()
    expect(page.locator(".parcel").first).to_contain_text("JD014600003828")
    expect(page.locator(".parcel").first).to_contain_text("Shipped")
    snap(page, "order-shipped")
    with live_server.app_context():
        from commerce.orders.services import get_order

        order = get_order(data["order_id"])
        assert order.fulfillment_status == "fulfilled" and order.status == "completed"
        assert order.fulfillments[0].tracking_number == "JD014600003828"

    # Bulk print: find both orders, tick them in the list, print, watch the job, download.
    console_nav = page.get_by_role("navigation", name="Console")
    console_nav.get_by_role("link", name="Orders", exact=True).click()
    for name in (data["order_name"], data["other_name"]):
        page.get_by_label(f"Select order {name}").check()
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    page.get_by_role("button", name="Print packing slips").click()
    expect(page.locator("#packing-slips")).to_contain_text("2 packing slips ready.")
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download PDF").click()
    text = pdf_text(caught.value.path())
    assert data["order_name"] in text and data["other_name"] in text
