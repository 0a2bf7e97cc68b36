"""Gift cards and store credit in the console, through HTTP (issue 18): issuing shows the code
once, the list masks it and filters, the page shows the ledger, adjusting needs a reason and
never goes below zero, deactivating, the export, a customer's store credit, and support
refunding an order to store credit within the approval limit (audited)."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.giftcards.models import GiftCard
from commerce.giftcards.services import card_for_code, credit_of, issue_gift_card
from commerce.orders.models import Refund


def text(response):
    return response.get_data(as_text=True)


def test_issue_shows_the_code_once_and_the_list_masks_it(client, login):
    login("support")
    form = {"amount": "25.00", "note": "Sorry for the delay", "expires_on": "2031-12-31"}
    issued = client.post("/console/gift-cards/new", data=form)
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    code = re.search(r'id="gift-card-code">([A-Z0-9-]{19})<', text(issued)).group(1)
    card = card_for_code(code)
    assert card.balance == 2500 and card.expires_at.year == 2031
    listing = text(client.get("/console/gift-cards"))
    assert f"•••• {card.last4}" in listing and code not in listing and "$25.00" in listing
    page = text(client.get(f"/console/gift-cards/{card.id}"))
    assert code not in page and "Issue" in page and "Sorry for the delay" in page
    found = text(client.get(f"/console/gift-cards?q={card.last4}&status=active"))
    assert f"•••• {card.last4}" in found
    none = text(client.get("/console/gift-cards?status=expired"))
    assert "No gift cards match" in none
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "gift_card.issue"))
    assert entry.after["amount"] == "$25.00" and code not in str(entry.after)


def test_bad_input_is_answered_at_the_field(client, login):
    login("support")
    bad = client.post("/console/gift-cards/new", data={"amount": "abc"})
    assert bad.status_code == 422 and "is not an amount" in text(bad)
    zero = client.post("/console/gift-cards/new", data={"amount": "0"})
    assert zero.status_code == 422 and "above zero" in text(zero)
    assert db.session.scalar(select(GiftCard.id)) is None


def test_adjust_deactivate_and_export(client, login):
    member = login("support")
    card, _ = issue_gift_card(amount=1000, by=member)
    no_reason = client.post(f"/console/gift-cards/{card.id}/adjust", data={"amount": "-2.00"})
    assert no_reason.status_code == 422 and "Say why" in text(no_reason)
    too_much = client.post(
        f"/console/gift-cards/{card.id}/adjust", data={"amount": "-20.00", "reason": "Oops"}
    )
    assert too_much.status_code == 422 and "cannot give" in text(too_much)
    ok = client.post(
        f"/console/gift-cards/{card.id}/adjust", data={"amount": "-2.50", "reason": "Partly used"}
    )
    assert ok.status_code == 303
    page = text(client.get(f"/console/gift-cards/{card.id}"))
    assert "$7.50" in page and "Partly used" in page and "Adjust" in page
    export = client.get("/console/gift-cards.csv")
    rows = list(csv.reader(io.StringIO(text(export).lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "code_last4", "status"]
    assert rows[1][1] == card.last4 and rows[1][5] == "7.50"
    export.close()
    gone = client.post(f"/console/gift-cards/{card.id}/deactivate")
    assert gone.status_code == 303
    db.session.refresh(card)
    assert card.status == "deactivated"
    assert "Deactivate card" not in text(client.get(f"/console/gift-cards/{card.id}"))


def test_a_warehouse_member_sees_no_gift_cards(client, login):
    login("warehouse")
    assert client.get("/console/gift-cards").status_code == 403


def test_store_credit_adjust_and_refund_to_store_credit(client, login, place, make_customer):
    login("support")
    customer = make_customer(email="ada@example.com")
    order = place(1)
    order.customer_id = customer.id
    db.session.commit()
    adjusted = client.post(
        f"/console/customers/{customer.id}/store-credit/adjust",
        data={"amount": "5.00", "reason": "Goodwill"},
    )
    assert adjusted.status_code == 303
    page = text(client.get(f"/console/customers/{customer.id}/store-credit"))
    assert "$5.00" in page and "Goodwill" in page
    choose = text(client.get(f"/console/orders/{order.id}/refund"))
    assert "store credit" in choose
    form = {"extra_amount": "10.00", "reason": "Late", "destination": "store_credit"}
    review = text(client.post(f"/console/orders/{order.id}/refund", data=form))
    assert "Refund to: the customer&#39;s store credit" in review
    key = re.search(r'name="idempotency_key" value="([^"]+)"', review).group(1)
    answer = client.post(
        f"/console/orders/{order.id}/refund/confirm",
        data={**form, "idempotency_key": key, "shipping_amount": "0.00"},
    )
    assert answer.status_code == 200 and "succeeded" in text(answer)
    refund = db.session.scalar(select(Refund))
    assert refund.destination == "store_credit"
    assert credit_of(customer.id).balance == 1500
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "order.refund_succeeded")
    )
    assert entry.after["destination"] == "store_credit"


def test_the_order_page_shows_the_gift_card_that_paid(client, login, checkout_shop):
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        apply_checkout_gift_card,
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from tests.conftest import TEST_CARD, US_ADDRESS

    card, code = issue_gift_card(amount=1000, by=None)
    checkout = start_checkout(add_to_cart(None, variant_id=checkout_shop.small, quantity=1))
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    apply_checkout_gift_card(checkout, code=code)
    order = place_order(checkout.key, card=TEST_CARD).order
    login("support")
    page = text(client.get(f"/console/orders/{order.id}"))
    assert f"Gift card •••• {card.last4}" in page and "$10.00" in page
    assert f"/console/gift-cards/{card.id}" in page
