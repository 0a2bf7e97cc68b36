"""A shopper pays with a gift card in a real browser (issue 18): the code at the payment step,
the card's part and what is left for the card, then the order."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap
from tests.browser.test_checkout_queue_browser import add_and_check_out

pytestmark = pytest.mark.browser


def test_a_shopper_pays_part_with_a_gift_card(anon_page: Page, live_server: LiveServer):
    page = anon_page
    with live_server.app_context():
        from commerce.giftcards.services import issue_gift_card
        from tests.conftest import build_checkout_shop

        shop = build_checkout_shop(stock=5)
        card, code = issue_gift_card(amount=1000, by=None)
        variant_id, card_id, last4 = shop.medium, card.id, card.last4

    add_and_check_out(page, variant_id)
    expect(page.get_by_role("heading", name="Contact and shipping address")).to_be_visible()
    page.get_by_label("Email").fill("gift.shopper@example.com")
    page.get_by_label("Full name").fill("Gia Gift")
    page.get_by_label("Address line 1").fill("500 Howard Street")
    page.get_by_label("City").fill("San Francisco")
    page.get_by_label("State / province / region").fill("CA")
    page.get_by_label("Postal code").fill("94105")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Continue to shipping").click()
    page.get_by_label(re.compile("Standard")).check()
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("heading", name="Review and pay")).to_be_visible()
    page.get_by_label("Gift card code").fill("WRONG-CODE")
    page.get_by_role("button", name="Apply gift card").click()
    expect(page.get_by_text("That gift card code is not valid.")).to_be_visible()
    page.get_by_label("Gift card code").fill(code.lower())
    page.get_by_role("button", name="Apply gift card").click()
    expect(page.locator(".tender-applied")).to_contain_text(f"Gift card •••• {last4}")
    # $25.00 + $5.00 shipping + CA tax 7.25% (1.81 + 0.36) = $32.17; the card pays $10.00
    expect(page.locator(".amount-due")).to_contain_text("$22.17")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2031")
    page.get_by_label("Security code (CVC)").fill("123")
    snap(page, "shop-gift-card")
    page.get_by_role("button", name=re.compile(r"Place order")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Thank you! Order #\d+"))

    with live_server.app_context():
        from sqlalchemy import select

        from commerce.extensions import db
        from commerce.giftcards.models import GiftCard
        from commerce.orders.models import Order

        order = db.session.scalar(select(Order).where(Order.email == "gift.shopper@example.com"))
        assert order.paid_total == order.total == 3217
        assert db.session.get(GiftCard, card_id).balance == 0


def test_a_gift_card_is_bought_without_being_asked_for_an_address(
    anon_page: Page, live_server: LiveServer
):
    """Gift cards alone ship nothing: the email, then straight to paying; no address, no
    shipping step, no shipping block on the order's page."""
    page = anon_page
    with live_server.app_context():
        from commerce.catalog.services import create_product
        from commerce.extensions import db
        from commerce.inventory.services import receive_stock
        from tests.conftest import build_checkout_shop

        build_checkout_shop(stock=5)
        product = create_product(
            title="E-Gift Card", price=2500, sku="EGC-25", status="active", is_gift_card=True,
            by=None,
        )  # fmt: skip
        db.session.commit()
        receive_stock(product.variants[0].id, quantity=10, by=None)
        variant_id = product.variants[0].id

    add_and_check_out(page, variant_id)
    expect(page.get_by_role("heading", name="Contact", exact=True)).to_be_visible()
    expect(page.get_by_label("Address line 1")).to_have_count(0)
    steps = page.get_by_role("navigation", name="Checkout steps")
    expect(steps).not_to_contain_text("Shipping")
    page.get_by_label("Email").fill("gift.buyer@example.com")
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("heading", name="Review and pay")).to_be_visible()
    expect(page.get_by_text("Nothing to ship")).to_be_visible()
    expect(page.get_by_text("Ship to")).to_have_count(0)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2031")
    page.get_by_label("Security code (CVC)").fill("123")
    snap(page, "shop-gift-card-no-shipping")
    page.get_by_role("button", name=re.compile(r"Place order · \$25\.00")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Thank you! Order #\d+"))
    expect(page.get_by_role("heading", name="Shipping to")).to_have_count(0)
    expect(page.get_by_text("Nothing to ship")).to_be_visible()

    with live_server.app_context():
        from sqlalchemy import select

        from commerce.extensions import db
        from commerce.orders.models import Order

        order = db.session.scalar(select(Order).where(Order.email == "gift.buyer@example.com"))
        assert order.total == 2500 and order.shipping_address == {}
        assert order.shipping_method_name == ""
