"""A draft order in a real browser: support creates it, finds an item by its title (the live
search, htmx), adds it, enters the customer and address, picks shipping and sends the invoice;
adds a custom item (not in the catalog: a mistake is answered at its field first); the customer
opens the emailed link in their own browser and pays in the shop's payment step; the draft is
then an order showing the custom item."""

from __future__ import annotations

import os
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap, unique
from tests.browser.test_orders_console import sign_in

pytestmark = pytest.mark.browser


def test_draft_created_invoiced_and_paid_through_the_link(
    anon_page: Page, browser, live_server: LiveServer
) -> None:
    from bench._server import prepare_us_checkout
    from commerce.catalog.services import create_product
    from commerce.inventory.services import receive_stock
    from commerce.staff.services import create_staff

    n = os.getpid()
    title = unique("Phone Order Mug")
    customer = f"phone{n}-{title.split()[-1]}@example.com"
    with live_server.app_context():
        prepare_us_checkout()
        agent = f"drafts{n}-{title.split()[-1]}@browser.example.com"
        create_staff(agent, role="support", name="Dee Drafts", password=PASSWORD)
        product = create_product(
            title=title, price=1200, sku=f"MUG-{title.split()[-1]}", status="active", by=None
        )
        receive_stock(product.variants[0].id, quantity=5, by=None)
        mail_dir = Path(live_server.app.config["MAIL_DIR"])

    page = anon_page
    sign_in(page, agent)
    page.goto("/console/orders")
    page.locator("#main").get_by_role("link", name="Drafts").click()
    page.get_by_label(re.compile("Customer's email")).fill(customer)
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", name=re.compile(r"Draft D\d+"))).to_be_visible()

    page.get_by_label(re.compile("Find an item")).fill(title)  # live search as one types
    hits = page.locator("#draft-variant-hits")
    expect(hits).to_contain_text(title)
    expect(hits).to_contain_text("5")  # available now
    hits.get_by_role("button", name=f"Add {title}").click()
    expect(page.locator("#draft-lines")).to_contain_text(title)

    page.get_by_label("Name", exact=True).fill("Pat Phone")
    page.get_by_label("Address", exact=True).fill("1 Market Street")
    page.get_by_label("City").fill("San Francisco")
    page.get_by_label("State or region").fill("CA")
    page.get_by_label("Postal code").fill("94105")
    page.get_by_label("Country (2 letters)").fill("US")
    page.get_by_role("button", name="Save customer").click()
    page.get_by_label(re.compile("Standard")).check()
    page.get_by_role("button", name="Choose").click()
    # $12.00 + $5.00 shipping + CA tax 7.25% (0.87 + 0.36)
    expect(page.locator("#draft-total")).to_have_text("Total $18.23")

    custom = page.locator("#custom-add")
    custom.get_by_label("Price (USD)").fill("3.00")
    custom.get_by_role("button", name="Add custom item").click()
    expect(page.locator("#custom-add")).to_contain_text("Enter what the item is.")
    custom = page.locator("#custom-add")
    custom.get_by_label("Title").fill("Gift note, handwritten")
    custom.get_by_label("Price (USD)").fill("3.00")
    custom.get_by_role("button", name="Add custom item").click()
    expect(page.locator("#draft-lines")).to_contain_text("Gift note, handwritten")
    # + $3.00 and its tax (0.22)
    expect(page.locator("#draft-total")).to_have_text("Total $21.45")
    snap(page, "draft-order-custom-item")
    snap(page, "draft-order")
    page.get_by_role("button", name="Send invoice").click()
    expect(page.get_by_text("Invoice sent").first).to_be_visible()

    sent = [p for p in mail_dir.glob("*invoice*.eml") if customer in p.read_text(errors="ignore")]
    assert len(sent) == 1
    message = message_from_bytes(sent[0].read_bytes(), policy=policy.default)
    link = re.search(r"(http\S+/pay/\S+)", message.get_body(("plain",)).get_content()).group(1)

    shopper = browser.new_context()
    try:
        pay = shopper.new_page()
        pay.goto(link)
        expect(pay.get_by_role("heading", name="Review and pay")).to_be_visible()
        expect(pay.get_by_role("link", name="Change")).to_have_count(0)  # the shop's to change
        pay.get_by_label("Card number").fill("4242 4242 4242 4242")
        pay.get_by_label("Expiry month (MM)").fill("12")
        pay.get_by_label("Expiry year (YYYY)").fill("2031")
        pay.get_by_label("Security code (CVC)").fill("123")
        pay.get_by_role("button", name=re.compile(r"Place order · \$21\.45")).click()
        expect(pay.get_by_role("heading", level=1)).to_have_text(
            re.compile(r"Thank you! Order #\d+")
        )
    finally:
        shopper.close()

    page.reload()
    expect(page.get_by_text("Completed").first).to_be_visible()
    page.get_by_role("link", name="its order").click()
    expect(page.get_by_role("heading", name=re.compile(r"Order #\d+"))).to_be_visible()
    expect(page.locator("body")).to_contain_text(customer)
    expect(page.locator("body")).to_contain_text("Gift note, handwritten")
