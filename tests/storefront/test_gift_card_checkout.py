"""Paying with gift cards and store credit through HTTP (issue 18): the code at the payment
step (a wrong one at the field, 422), what is left to pay by card, a whole order paid by
cards with no card fields, removing a card, and a signed-in customer's store credit."""

from __future__ import annotations

from sqlalchemy import select

from commerce.extensions import db
from commerce.giftcards.models import GiftCard
from commerce.giftcards.services import adjust_store_credit, issue_gift_card
from commerce.orders.models import Order
from tests.storefront.test_cart_checkout import CARD, ready_to_pay


def test_a_gift_card_pays_part_and_the_card_the_rest(client, checkout_shop):
    card, code = issue_gift_card(amount=1000, by=None)
    key = ready_to_pay(client, checkout_shop.small)
    wrong = client.post(f"/checkout/{key}/gift-card", data={"gift_card_code": "NOPE"})
    assert wrong.status_code == 422
    assert "not valid" in wrong.get_data(as_text=True)
    applied = client.post(f"/checkout/{key}/gift-card", data={"gift_card_code": code.lower()})
    assert applied.status_code == 303 and applied.location.endswith(f"/checkout/{key}/payment")
    page = client.get(f"/checkout/{key}/payment").get_data(as_text=True)
    assert f"Gift card •••• {card.last4}" in page and "Left to pay by card" in page
    placed = client.post(f"/checkout/{key}/place", data=CARD)
    assert placed.status_code == 303 and "/orders/" in placed.location
    order = db.session.scalar(select(Order))
    db.session.refresh(card)
    assert card.balance == 0 and order.paid_total == order.total and order.payment_id


def test_cards_paying_everything_need_no_card_fields(client, checkout_shop):
    _, code = issue_gift_card(amount=10000, by=None)
    key = ready_to_pay(client, checkout_shop.small)
    client.post(f"/checkout/{key}/gift-card", data={"gift_card_code": code})
    page = client.get(f"/checkout/{key}/payment").get_data(as_text=True)
    assert "no card is needed" in page and 'name="card_number"' not in page
    placed = client.post(f"/checkout/{key}/place", data={})
    assert placed.status_code == 303 and "/orders/" in placed.location
    order = db.session.scalar(select(Order))
    assert order.payment_id is None and order.payment_status == "paid"


def test_a_removed_card_is_not_charged(client, checkout_shop):
    card, code = issue_gift_card(amount=1000, by=None)
    key = ready_to_pay(client, checkout_shop.small)
    client.post(f"/checkout/{key}/gift-card", data={"gift_card_code": code})
    page = client.get(f"/checkout/{key}/payment").get_data(as_text=True)
    tender_id = page.split('name="tender_id" value="')[1].split('"')[0]
    removed = client.post(f"/checkout/{key}/tender/remove", data={"tender_id": tender_id})
    assert removed.status_code == 303
    assert client.post(f"/checkout/{key}/place", data=CARD).status_code == 303
    assert db.session.get(GiftCard, card.id).balance == 1000


def test_store_credit_at_checkout(client, checkout_shop, make_customer):
    from tests.storefront.test_account import shop_sign_in

    customer = make_customer(email="cora@example.com")
    adjust_store_credit(customer, amount=500, reason="Goodwill", by=None)
    assert shop_sign_in(client, customer).status_code == 303
    account = client.get("/account").get_data(as_text=True)
    assert "$5.00" in account and "store credit" in account
    key = ready_to_pay(client, checkout_shop.small)
    page = client.get(f"/checkout/{key}/payment").get_data(as_text=True)
    assert "You have $5.00 of store credit" in page
    assert client.post(f"/checkout/{key}/store-credit").status_code == 303
    assert client.post(f"/checkout/{key}/place", data=CARD).status_code == 303
    order = db.session.scalar(select(Order))
    assert order.paid_total == order.total
