"""Draft orders without HTTP: priced as the shop prices, marked paid into a normal order,
paid through their checkout, stock held only when asked."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce import outbox
from commerce.checkout.services import place_order, price_checkout
from commerce.drafts.models import COMPLETED, INVOICED
from commerce.drafts.services import (
    add_draft_line,
    choose_draft_shipping,
    create_draft,
    draft_checkout,
    mark_draft_paid,
    price_draft,
    reserve_draft_stock,
    send_invoice,
    set_draft_customer,
    set_draft_discount,
)
from commerce.errors import Conflict, InvalidTransition, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import StockLevel
from commerce.orders.models import CONSOLE, PAID, Order
from tests.conftest import TEST_CARD, US_ADDRESS


def reserved(variant_id):
    return db.session.scalar(
        select(func.coalesce(func.sum(StockLevel.reserved), 0)).where(
            StockLevel.variant_id == variant_id
        )
    )


def allocated(variant_id):
    return db.session.scalar(
        select(func.coalesce(func.sum(StockLevel.allocated), 0)).where(
            StockLevel.variant_id == variant_id
        )
    )


@pytest.fixture
def staff(make_staff):
    return make_staff("support")


def ready_draft(shop, staff, quantity=2):
    draft = create_draft(email="grace@example.com", by=staff)
    add_draft_line(draft, variant_id=shop.small, quantity=quantity, by=staff)
    set_draft_customer(draft, email="grace@example.com", address=US_ADDRESS, by=staff)
    choose_draft_shipping(draft, code="STD", by=staff)
    return draft


def test_a_draft_is_priced_as_its_checkout_and_nothing_is_held_until_asked(checkout_shop, staff):
    draft = ready_draft(checkout_shop, staff)
    set_draft_discount(draft, kind="amount", value="3.00", reason="Phone order", by=staff)
    priced = price_draft(draft)
    assert priced.totals.discounts == 300
    assert priced.totals.total == 2 * 2500 - 300 + 500 + priced.totals.tax
    assert reserved(checkout_shop.small) == 0
    send_invoice(draft, by=staff)
    assert draft.status == INVOICED
    assert reserved(checkout_shop.small) == 0  # invoicing holds nothing either
    checkout = draft_checkout(draft)
    assert price_checkout(checkout) == priced  # the same pipeline, the same result
    reserve_draft_stock(draft, by=staff)
    assert reserved(checkout_shop.small) == 2


def test_paid_through_its_checkout_the_draft_completes(checkout_shop, staff):
    draft = ready_draft(checkout_shop, staff)
    set_draft_discount(draft, kind="percent", value="10", by=staff)
    total = price_draft(draft).totals.total
    send_invoice(draft, by=staff)
    placement = place_order(draft.checkout_key, card=TEST_CARD)
    assert placement.order.total == total
    outbox.deliver_pending()
    db.session.refresh(draft)
    assert draft.status == COMPLETED and draft.order_id == placement.order.id
    assert placement.order.channel == CONSOLE
    # a second placement with the same key returns the same order
    assert place_order(draft.checkout_key, card=TEST_CARD).order.id == placement.order.id


def test_mark_paid_writes_one_paid_order_and_allocates_stock(checkout_shop, staff):
    draft = ready_draft(checkout_shop, staff)
    send_invoice(draft, by=staff)
    order = mark_draft_paid(draft, method="Bank transfer", by=staff)
    assert order.payment_status == PAID and order.paid_total == order.total
    assert order.number == order.id + 1000
    assert allocated(checkout_shop.small) == 2 and reserved(checkout_shop.small) == 0
    assert draft.status == COMPLETED
    # the pay link's checkout is finished: paying now returns that order, not a second one
    assert place_order(draft.checkout_key, card=TEST_CARD).order.id == order.id
    assert db.session.scalar(select(func.count(Order.id))) == 1
    with pytest.raises(InvalidTransition):
        mark_draft_paid(draft, by=staff)


def test_mark_paid_refuses_a_sold_out_line_and_writes_nothing(checkout_shop, staff):
    draft = ready_draft(checkout_shop, staff, quantity=11)
    with pytest.raises(OutOfStock):
        mark_draft_paid(draft, by=staff)
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert draft.status != COMPLETED


def test_an_incomplete_draft_cannot_be_invoiced(checkout_shop, staff):
    draft = create_draft(email="", by=staff)
    with pytest.raises(ValidationError) as caught:
        send_invoice(draft, by=staff)
    assert {"variant_id", "email", "shipping_address", "shipping_method"} <= set(
        caught.value.errors
    )


def test_mark_paid_while_the_customer_pays_is_refused(checkout_shop, staff):
    draft = ready_draft(checkout_shop, staff)
    send_invoice(draft, by=staff)
    checkout = draft_checkout(draft)
    checkout.status = "placing"
    db.session.commit()
    with pytest.raises(Conflict):
        mark_draft_paid(draft, by=staff)
