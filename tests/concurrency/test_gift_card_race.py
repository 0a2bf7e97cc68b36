"""One gift card, many shoppers spending it at once, on PostgreSQL with real threads and commits
(issue 18): the balance never goes below zero, exactly the orders it can afford are placed, the
rest are refused with nothing charged and nothing left held, and the ledger adds up."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    apply_checkout_gift_card,
    choose_shipping_method,
    place_order,
    price_checkout,
    save_information,
    start_checkout,
)
from commerce.extensions import db
from commerce.giftcards.models import HELD, GiftCard, GiftCardEntry, Tender
from commerce.giftcards.services import issue_gift_card
from commerce.orders.models import Order
from commerce.payments.models import Payment
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

pytestmark = pytest.mark.postgres

SHOPPERS = 10


def _checkouts(shop, code: str, n: int, prefix: str) -> tuple[list[str], int]:
    keys, total = [], 0
    for i in range(n):
        cart = add_to_cart(None, variant_id=shop.small, quantity=1)
        checkout = start_checkout(cart)
        save_information(checkout, email=f"{prefix}{i}@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        apply_checkout_gift_card(checkout, code=code)
        keys.append(checkout.key)
        total = price_checkout(checkout).totals.total
    return keys, total


def _ledger_agrees(card_id: int) -> int:
    card = db.session.get(GiftCard, card_id, populate_existing=True)
    booked = db.session.scalar(
        select(func.sum(GiftCardEntry.amount)).where(GiftCardEntry.gift_card_id == card_id)
    )
    assert card.balance == booked >= 0
    return card.balance


def test_concurrent_orders_never_take_a_card_below_zero(race_app):
    shop = build_checkout_shop(stock=SHOPPERS * 3)
    card, code = issue_gift_card(amount=10000, by=None)
    card_id = card.id
    keys, total = _checkouts(shop, code, SHOPPERS, "gift")
    affordable = 10000 // total
    assert 1 < affordable < SHOPPERS
    db.session.remove()

    # No card given: only an order the gift card pays in full can be placed.
    outcomes = run_together(race_app, SHOPPERS, lambda i: place_order(keys[i], card={}))

    assert unexpected(outcomes) == []
    placed = [o.value.order for o in outcomes if o.ok]
    assert len(placed) == affordable
    refused = Counter(
        (type(o.domain_error).__name__, o.domain_error.status) for o in outcomes if not o.ok
    )
    # Refused: the balance changed under the shopper's feet (409), or what was left of it no
    # longer covers the order and no card was given (422): never a negative balance.
    assert set(refused) <= {("Conflict", 409), ("ValidationError", 422)}
    assert _ledger_agrees(card_id) == 10000 - affordable * total
    assert db.session.scalar(select(func.count(Payment.id))) == 0
    assert db.session.scalar(select(func.count(Tender.id)).where(Tender.status == HELD)) == 0
    orders = list(db.session.scalars(select(Order)))
    assert all(o.paid_total == o.total and o.payment_status == "paid" for o in orders)

    # With a card as well, everyone can order: the card pays what the gift card no longer does.
    second, code2 = issue_gift_card(amount=5000, by=None)
    second_id = second.id
    more, total = _checkouts(shop, code2, 6, "mixed")
    db.session.remove()
    outcomes = run_together(race_app, 6, lambda i: place_order(more[i], card=TEST_CARD))
    assert unexpected(outcomes) == []
    conflicts = [o.domain_error for o in outcomes if not o.ok]
    assert all(e.status == 409 and e.field == "gift_card_code" for e in conflicts)
    left = _ledger_agrees(second_id)
    tendered = db.session.scalar(
        select(func.coalesce(func.sum(Tender.amount), 0)).where(Tender.gift_card_id == second_id)
    )
    assert tendered == 5000 - left
    for outcome in outcomes:
        if outcome.ok:
            order = db.session.get(Order, outcome.value.order.id)
            payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
            paid_by_card = payment.amount if payment is not None else 0
            by_gift_card = db.session.scalar(
                select(func.coalesce(func.sum(Tender.amount), 0)).where(Tender.order_id == order.id)
            )
            assert paid_by_card + by_gift_card == order.total == order.paid_total
    assert db.session.scalar(select(func.count(Tender.id)).where(Tender.status == HELD)) == 0
