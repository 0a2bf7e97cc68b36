"""Money exactly once under races on PostgreSQL, with real threads and real commits.

- The old tab against the new checkout: a placement killed during the authorization (before
  or after the provider acted) leaves its checkout placing; once it is stale, the shopper's old
  tab retries it while other tabs of the same browser start a new checkout of the same cart,
  all at once. One order and one charge per cart, whoever wins.
- Two recoveries (and more) at once over the same leftovers settle each of them once.

Assertions are about counts (orders, what the provider holds), never timing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from commerce.checkout.models import Cart, Checkout
from commerce.checkout.recovery import recover_payments
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.errors import CommerceError, InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.services import reconcile
from commerce.orders.models import PAID, Order, Refund
from commerce.orders.refunds import issue_refund
from commerce.payments import models as pm
from commerce.payments.services import get_provider
from tests.commerce.checkout.crashes import ProcessKilled, as_if_dead, die_in, ready_checkout
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

pytestmark = pytest.mark.postgres

TIMEOUT = timedelta(seconds=30)
TABS = 6


@pytest.fixture
def money_app(race_app):
    race_app.config["PAYMENTS_IN_FLIGHT_TIMEOUT"] = TIMEOUT
    return race_app


def time_passes() -> None:
    """Everything recorded so far happened longer ago than the in-flight timeout."""
    past = TIMEOUT + timedelta(seconds=5)
    db.session.execute(
        update(Checkout)
        .where(Checkout.placing_since.is_not(None))
        .values(placing_since=Checkout.placing_since - past)
    )
    for table in (pm.Payment, pm.PaymentTransaction, Refund):
        db.session.execute(update(table).values(created_at=table.created_at - past))
    db.session.execute(update(pm.Payment).values(updated_at=pm.Payment.updated_at - past))
    db.session.execute(update(Order).values(placed_at=Order.placed_at - past))
    db.session.commit()


def killed_while_authorizing(shop: Any, monkeypatch: pytest.MonkeyPatch, *, after: bool):
    cart, checkout = ready_checkout(shop, quantity=1)
    with monkeypatch.context() as patch:
        die_in(patch, "authorize", after=after)
        with pytest.raises(ProcessKilled):
            place_order(checkout.key, card=TEST_CARD)
    as_if_dead(checkout)
    return cart.id, checkout


def cart_orders(cart_id: int) -> list[Order]:
    keys = select(Checkout.key).where(Checkout.cart_id == cart_id)
    return list(db.session.scalars(select(Order).where(Order.checkout_key.in_(keys))))


def cart_charges(cart_id: int) -> list[dict]:
    """What the provider holds money for, over every checkout of the cart (voided and failed
    authorizations hold nothing)."""
    store = get_provider().store
    charges = []
    for key in db.session.scalars(select(Checkout.key).where(Checkout.cart_id == cart_id)):
        charges += [
            a
            for a in store.authorizations(f"checkout:{key}")
            if a["status"] in ("authorized", "captured")
        ]
    return charges


@pytest.mark.parametrize("after", [True, False], ids=["provider_authorized", "never_received"])
def test_old_tab_retry_and_new_checkouts_of_the_cart_make_one_order(money_app, monkeypatch, after):
    shop = build_checkout_shop(stock=20)
    cart_id, old = killed_while_authorizing(shop, monkeypatch, after=after)
    old_key = old.key
    time_passes()

    def shopper(i: int) -> str:
        if i % 2 == 0:  # the old tab, retried
            placement = place_order(old_key, card=TEST_CARD)
            return f"old:{placement.order.id if placement.order else 'action'}"
        cart = db.session.get(Cart, cart_id)
        checkout = start_checkout(cart)  # back to the cart, checkout again
        if checkout.status == "completed":
            return f"new-saw:{checkout.order_id}"
        save_information(checkout, email="ada@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        placement = place_order(checkout.key, card=TEST_CARD)
        return f"new:{placement.order.id if placement.order else 'action'}"

    outcomes = run_together(money_app, TABS, shopper)
    assert unexpected(outcomes) == []
    for outcome in outcomes:  # the losers were told to wait, or that the checkout is gone
        if outcome.domain_error is not None:
            assert isinstance(outcome.domain_error, CommerceError)
    db.session.expire_all()
    orders = cart_orders(cart_id)
    assert len(orders) == 1, [o.value or o.domain_error for o in outcomes]
    assert orders[0].payment_status == PAID
    charges = cart_charges(cart_id)
    assert [c["status"] for c in charges] == ["captured"]
    assert charges[0]["captured"] == orders[0].total

    # The tabs told to wait try again: the same order, or nothing left to order.
    try:
        again = place_order(old_key, card=TEST_CARD)
        assert again.order is not None and again.order.id == orders[0].id
    except InvalidTransition:  # the new checkout superseded the old one
        pass
    cart = db.session.get(Cart, cart_id)
    try:
        checkout = start_checkout(cart)
        assert checkout.status == "completed" and checkout.order_id == orders[0].id
    except (ValidationError, InvalidTransition) as exc:
        assert "empty" in exc.message

    recover_payments()  # whatever the race left (an authorization it released) is settled
    db.session.expire_all()
    assert len(cart_orders(cart_id)) == 1
    assert [c["status"] for c in cart_charges(cart_id)] == ["captured"]
    assert (
        db.session.scalar(
            select(func.count(pm.Payment.id)).where(
                pm.Payment.status.in_((pm.PENDING, pm.CAPTURING, pm.VOIDING))
            )
        )
        == 0
    )
    assert reconcile() == []


def test_recoveries_running_at_once_settle_each_leftover_once(money_app, monkeypatch):
    shop = build_checkout_shop(stock=30)
    carts = [killed_while_authorizing(shop, monkeypatch, after=True) for _ in range(3)]
    carts += [killed_while_authorizing(shop, monkeypatch, after=False) for _ in range(2)]
    # A capture and a refund whose answers were lost, on two more orders.
    _, checkout = ready_checkout(shop, quantity=1)
    with monkeypatch.context() as patch:
        die_in(patch, "capture", after=True)
        with pytest.raises(ProcessKilled):
            place_order(checkout.key, card=TEST_CARD)
    capturing = db.session.scalar(select(Order.id).where(Order.checkout_key == checkout.key))
    _, checkout = ready_checkout(shop, quantity=1)
    refunded = place_order(checkout.key, card=TEST_CARD).order
    refunded_key = refunded.checkout_key
    with monkeypatch.context() as patch:
        die_in(patch, "refund", after=False)
        with pytest.raises(ProcessKilled):
            issue_refund(
                refunded, lines={}, extra_amount=300, reason="late", idempotency_key="r", by=None
            )
    time_passes()

    reports = run_together(money_app, 4, lambda i: recover_payments())
    assert unexpected(reports) == []
    assert [o.domain_error for o in reports if o.domain_error] == []
    db.session.expire_all()

    placed = sum(o.value.orders_placed for o in reports)
    assert placed == 3  # each authorization became its order once
    for cart_id, _checkout in carts:
        assert len(cart_orders(cart_id)) <= 1
        assert len(cart_charges(cart_id)) == len(cart_orders(cart_id))
    order = db.session.get(Order, capturing)
    assert order.payment_status == PAID
    auth = get_provider().store.authorizations(f"checkout:{order.checkout_key}")
    assert [a["status"] for a in auth] == ["captured"]
    refund = db.session.scalars(select(Refund)).one()
    assert refund.status == "succeeded"
    [auth] = get_provider().store.authorizations(f"checkout:{refunded_key}")
    assert auth["refunded"] == 300  # once, though four recoveries saw it
    assert len(get_provider().store.operations("refund")) == 1
    assert (
        db.session.scalar(
            select(func.count(pm.Payment.id)).where(
                pm.Payment.status.in_((pm.PENDING, pm.CAPTURING, pm.VOIDING))
            )
        )
        == 0
    )
    later = recover_payments()
    assert later.changed == 0
    assert reconcile() == []
