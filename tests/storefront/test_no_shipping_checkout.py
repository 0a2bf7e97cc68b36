"""A cart with nothing to ship skips shipping (issue 18): gift cards alone are bought with an
email and no address, the shipping step is skipped (visited directly, it sends the shopper
on), the order has no shipping address, method or charge, and its pages, emails and invoice
show no shipping block; a cart with a T-shirt as well still asks for both. Through HTTP."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import select

from commerce import outbox
from commerce.extensions import db
from commerce.giftcards.models import GiftCard
from commerce.inventory.models import Reservation
from commerce.orders.models import Order
from tests.conftest import htmx_headers
from tests.storefront.test_cart_checkout import CARD, add, enter_checkout, information


@pytest.fixture
def gift_card(app: Any, checkout_shop: Any) -> int:
    """A $50.00 gift card sold in the checkout shop; its variant id."""
    from commerce.catalog.services import create_product
    from commerce.inventory.services import receive_stock

    product = create_product(
        title="Gift Card", price=5000, sku="GC-50", status="active", is_gift_card=True, by=None
    )
    db.session.commit()
    receive_stock(product.variants[0].id, quantity=20, by=None)
    return product.variants[0].id


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_a_gift_card_alone_is_bought_with_an_email_and_no_address(
    client, checkout_shop, gift_card, mail_dir
):
    from commerce.documents.numbering import issue_invoice
    from commerce.documents.render import invoice_pdf, packing_slip_pdf
    from tests.commerce.documents.helpers import pdf_text

    assert add(client, gift_card, 2).status_code == 303
    cart_page = client.get("/cart").get_data(as_text=True)
    assert "Nothing to ship" in cart_page and "Estimate shipping" not in cart_page
    key, started = enter_checkout(client)
    assert started.location.endswith(f"/checkout/{key}/information")
    assert db.session.scalar(  # the normal hold: gift cards in stock are held like goods
        select(Reservation.quantity).where(Reservation.reference == f"checkout:{key}")
    )
    page = client.get(f"/checkout/{key}/information").get_data(as_text=True)
    assert "<h1>Contact</h1>" in page and 'name="line1"' not in page
    assert "Continue to payment" in page and ">Shipping<" not in page  # no shipping step
    answer = client.post(f"/checkout/{key}/information", data={"email": "Gia@Example.com"})
    assert answer.status_code == 303 and answer.location.endswith(f"/checkout/{key}/payment")

    page = client.get(f"/checkout/{key}/payment").get_data(as_text=True)
    assert "Ship to" not in page and "<dt>Shipping" not in page
    assert "Nothing to ship" in page and "Place order · $100.00" in page
    placed = client.post(f"/checkout/{key}/place", data=CARD)
    assert placed.status_code == 303 and "/orders/" in placed.location

    order = db.session.scalar(select(Order))
    assert order.shipping_address == {} and order.shipping_method_name == ""
    assert order.shipping_total == 0 and order.tax_total == 0 and order.total == 10000
    confirmation = client.get(placed.location).get_data(as_text=True)
    assert "Shipping to" not in confirmation and "Shipping (" not in confirmation
    assert "Nothing to ship" in confirmation

    outbox.deliver_pending()  # capture, the codes' email, the confirmation
    (codes,) = mail_dir.glob("*gift-cards-line*.eml")
    text = message_from_bytes(codes.read_bytes(), policy=policy.default)
    assert text["To"] == "gia@example.com"
    assert db.session.scalar(select(GiftCard.id).where(GiftCard.order_line_id.is_not(None)))
    (email,) = mail_dir.glob(f"*order-{order.number}-confirmation*.eml")
    message = message_from_bytes(email.read_bytes(), policy=policy.default)
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (plain, html):
        assert "SHIPPING TO" not in body and "Shipping to" not in body
        assert "Shipping (" not in body and "when it ships" not in body
    db.session.refresh(order)  # the codes were the delivery: nothing waits for a parcel
    assert order.fulfillment_status == "fulfilled"
    outbox.deliver_pending()  # the "shipped by email" notice the delivery sends
    (notice,) = mail_dir.glob(f"*order-{order.number}-shipment-*.eml")
    message = message_from_bytes(notice.read_bytes(), policy=policy.default)
    for part in ("plain", "html"):
        text_part = message.get_body((part,)).get_content()
        assert "Email" in text_part and "SHIPPING TO" not in text_part.upper()

    issue_invoice(order)
    invoice = squash(pdf_text(invoice_pdf(order)))
    assert "BILL TO gia@example.com" in invoice  # headings are set in capitals
    assert "SHIP TO" not in invoice.upper() and "SHIPPING" not in invoice.upper()
    assert "Total $100.00 Paid $100.00" in invoice
    slip = squash(pdf_text(packing_slip_pdf(order)))  # if staff print one anyway
    assert "SHIP TO" not in slip and "Shipping" not in slip
    assert "NOTHING TO SHIP Gift card codes are emailed to gia@example.com" in slip


def test_a_cart_with_goods_and_a_gift_card_still_needs_shipping(client, checkout_shop, gift_card):
    assert add(client, gift_card, 1).status_code == 303
    assert add(client, checkout_shop.small, 1).status_code == 303
    key, _ = enter_checkout(client)
    page = client.get(f"/checkout/{key}/information").get_data(as_text=True)
    assert 'name="line1"' in page and "Continue to shipping" in page
    refused = client.post(f"/checkout/{key}/information", data={"email": "ada@example.com"})
    assert refused.status_code == 422  # the address is asked
    answer = information(client, key)
    assert answer.location.endswith(f"/checkout/{key}/shipping")
    assert "Standard" in client.get(f"/checkout/{key}/shipping").get_data(as_text=True)
    skipped = client.get(f"/checkout/{key}/payment")  # no method yet: back to shipping
    assert skipped.status_code == 303 and skipped.location.endswith("/shipping")
    client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
    assert client.post(f"/checkout/{key}/place", data=CARD).status_code == 303
    order = db.session.scalar(select(Order))
    assert order.shipping_address["city"] and order.shipping_method_code == "STD"
    card_line, tee_line = sorted(order.lines, key=lambda line: not line.is_gift_card)
    assert card_line.tax == 0 and tee_line.tax > 0  # tax on the tee only (5% in NY)
    assert order.total == 5000 + 2500 + 500 + tee_line.tax + order.shipping_tax


def test_each_step_visited_directly_sends_the_shopper_on(client, checkout_shop, gift_card):
    assert add(client, gift_card, 1).status_code == 303
    key, _ = enter_checkout(client)
    base = f"/checkout/{key}"
    for path in ("/shipping", "/payment"):  # no email yet: the information step
        answer = client.get(base + path)
        assert answer.status_code == 303 and answer.location.endswith(f"{base}/information")
    early = client.post(base + "/place", data=CARD)
    assert early.status_code == 303 and early.location.endswith(f"{base}/information")
    client.post(base + "/information", data={"email": "ada@example.com"})
    for method, path, data in (
        ("GET", "/shipping", None),
        ("POST", "/shipping", {"shipping_method": "STD"}),
        ("POST", "/coupon/remove", {"step": "shipping"}),
    ):
        answer = client.open(base + path, method=method, data=data)
        assert answer.status_code == 303, (path, answer.status_code)
        target = answer.location
        while target.endswith("/shipping"):  # a step named by the form leads on again
            target = client.get(target).location
        assert target.endswith(f"{base}/payment"), (path, target)
    assert client.get(base + "/information").status_code == 200  # to change the email
    box = client.get(base + "/payment", headers=htmx_headers())  # htmx: the fragment
    assert box.status_code == 200 and "Nothing to ship" in box.get_data(as_text=True)
    assert client.post(base + "/place", data=CARD).status_code == 303
