"""Custom items on draft orders, without HTTP: priced by the shop's pipeline (subtotal, order
discounts, tax only when taxable, no weight), never holding or moving stock, written to the
order as lines without a variant; and a draft marked paid leaves a payment record whose refund
is booked as paid back outside the shop, with no card provider involved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.checkout.services import place_order, price_checkout
from commerce.drafts.services import (
    add_draft_custom_line,
    add_draft_line,
    choose_draft_shipping,
    create_draft,
    draft_checkout,
    duplicate_draft,
    mark_draft_paid,
    price_draft,
    remove_draft_custom_line,
    reserve_draft_stock,
    send_invoice,
    set_draft_customer,
    set_draft_discount,
    update_draft_custom_line,
)
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.inventory.models import Allocation, Reservation, StockLevel
from commerce.orders.models import FULFILLED, PAID, Order
from tests.conftest import TEST_CARD, US_ADDRESS

NY_ADDRESS = {**US_ADDRESS, "city": "New York", "region": "NY", "postal_code": "10001"}


@pytest.fixture
def staff(make_staff):
    return make_staff("admin")


def stock_rows(variant_id):
    return db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved, StockLevel.allocated).where(
            StockLevel.variant_id == variant_id
        )
    ).one()


def mixed_draft(shop, staff, *, method="HEAVY"):
    """2 tees ($25.00, 250 g each), an engraving (taxable, ships: 2 x $12.50) and a setup
    service (not taxable, not shipped: $40.00), to New York (5% tax)."""
    draft = create_draft(email="grace@example.com", by=staff)
    add_draft_line(draft, variant_id=shop.small, quantity=2, by=staff)
    add_draft_custom_line(draft, title="Engraving", unit_price="12.50", quantity=2, by=staff)
    add_draft_custom_line(
        draft,
        title="Setup service",
        unit_price="40",
        quantity="1",
        taxable="",
        requires_shipping="",
        by=staff,
    )
    set_draft_customer(draft, email="grace@example.com", address=NY_ADDRESS, by=staff)
    choose_draft_shipping(draft, code=method, by=staff)
    return draft


def test_custom_lines_are_priced_by_the_pipeline(checkout_shop, staff):
    draft = mixed_draft(checkout_shop, staff)
    priced = price_draft(draft)
    engraving, service = (line for line in priced.lines if line.is_custom)
    assert (engraving.title, engraving.amount, engraving.tax) == ("Engraving", 2500, 125)
    assert (service.amount, service.tax, service.tax_rate_bps) == (4000, 0, 0)
    assert engraving.variant_id is None and engraving.weight_grams == 0
    assert priced.totals.subtotal == 5000 + 2500 + 4000
    # HEAVY is by weight: the tees' 500 g only (up to 1 kg: $9.00)
    assert priced.shipping.amount == 900
    assert priced.totals.tax == 250 + 125 + 45  # tees, engraving, shipping; not the service
    assert priced.totals.total == 11500 + 900 + 420
    # an order discount is shared over every line, custom ones too
    set_draft_discount(draft, kind="percent", value="10", by=staff)
    priced = price_draft(draft)
    assert priced.totals.discounts == 1150
    assert [line.discount for line in priced.lines] == [500, 250, 400]
    assert priced.totals.tax == 225 + 113 + 45 or priced.totals.tax == 225 + 112 + 45


def test_bad_custom_items_are_refused_at_their_fields_and_nothing_changes(checkout_shop, staff):
    draft = create_draft(email="grace@example.com", by=staff)
    with pytest.raises(ValidationError) as caught:
        add_draft_custom_line(draft, title=" ", unit_price="-3", quantity="0", by=staff)
    assert set(caught.value.errors) == {"title", "unit_price", "quantity"}
    with pytest.raises(ValidationError) as caught:
        add_draft_custom_line(draft, title="x" * 401, unit_price="1.234", by=staff)
    assert set(caught.value.errors) == {"title", "unit_price"}
    db.session.rollback()
    assert db.session.get(type(draft), draft.id).custom_lines == []
    add_draft_custom_line(draft, title="Fee", unit_price="0", by=staff)  # free is allowed
    key = draft.custom_lines[0]["key"]
    update_draft_custom_line(
        draft,
        key=key,
        title="Rush fee",
        unit_price="5.00",
        quantity="3",
        taxable="1",
        requires_shipping="",
        by=staff,
    )
    assert draft.custom_lines[0] | {"key": ""} == {
        "key": "",
        "title": "Rush fee",
        "unit_price": 500,
        "quantity": 3,
        "taxable": True,
        "requires_shipping": False,
    }
    copy = duplicate_draft(draft, by=staff)
    assert copy.custom_lines == draft.custom_lines
    remove_draft_custom_line(draft, key=key, by=staff)
    assert draft.custom_lines == [] and len(copy.custom_lines) == 1


def test_reserving_holds_only_the_variant_and_the_link_pays_for_everything(checkout_shop, staff):
    draft = mixed_draft(checkout_shop, staff)
    total = price_draft(draft).totals.total
    reserve_draft_stock(draft, by=staff)
    holds = db.session.scalars(select(Reservation)).all()
    assert [(h.variant_id, h.quantity) for h in holds] == [(checkout_shop.small, 2)]
    send_invoice(draft, by=staff)
    checkout = draft_checkout(draft)
    assert price_checkout(checkout).totals.total == total
    order = place_order(draft.checkout_key, card=TEST_CARD).order
    assert order.total == total and order.payment_status == PAID
    custom = [line for line in order.lines if line.is_custom]
    assert [(c.title, c.variant_id, c.sku, c.requires_shipping) for c in custom] == [
        ("Engraving", None, "", True),
        ("Setup service", None, "", False),
    ]
    assert custom[1].fulfilled_quantity == 0  # it never ships (and never comes back)
    assert stock_rows(checkout_shop.small) == (10, 0, 2)
    allocations = db.session.scalars(select(Allocation)).all()
    assert [(a.variant_id, a.quantity) for a in allocations] == [(checkout_shop.small, 2)]


def test_a_draft_of_services_only_is_paid_and_fulfilled_at_once(checkout_shop, staff):
    draft = create_draft(email="grace@example.com", by=staff)
    add_draft_custom_line(
        draft, title="Consulting hour", unit_price="90", requires_shipping="", by=staff
    )
    # nothing ships: no address is needed, and there is no method to choose
    set_draft_customer(draft, email="grace@example.com", address={"name": " "}, by=staff)
    assert draft.shipping_address == {}
    with pytest.raises(ValidationError) as refused:
        choose_draft_shipping(draft, code="STD", by=staff)
    assert "needs no shipping method" in refused.value.message
    with pytest.raises(ValidationError):
        reserve_draft_stock(draft, by=staff)  # custom items hold no stock
    send_invoice(draft, by=staff)  # ready without a shipping method
    order = place_order(draft.checkout_key, card=TEST_CARD).order
    assert order.fulfillment_status == FULFILLED
    assert order.shipping_total == 0 and not order.shipping_method_name
    assert not order.shipping_address
    assert db.session.scalar(select(func.count(Reservation.id))) == 0
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_a_custom_item_ships_without_stock_and_is_refunded_without_restock(checkout_shop, staff):
    from commerce.inventory.services import default_location
    from commerce.orders.fulfillment import fulfil_and_ship, pickable
    from commerce.orders.models import PARTIALLY_FULFILLED
    from commerce.orders.refunds import issue_refund

    draft = mixed_draft(checkout_shop, staff)
    send_invoice(draft, by=staff)
    order = place_order(draft.checkout_key, card=TEST_CARD).order
    tee, engraving, service = order.lines
    where = default_location().id
    waiting = {(p.order_line_id, p.quantity) for p in pickable(order)[where]}
    assert waiting == {(tee.id, 2), (engraving.id, 2)}  # the service does not ship
    fulfil_and_ship(
        order, location_id=where, carrier="UPS", tracking_number="1Z1", lines={tee.id: 2}, by=staff
    )
    order = db.session.get(Order, order.id)
    assert order.fulfillment_status == PARTIALLY_FULFILLED  # the engraving still ships
    assert stock_rows(checkout_shop.small) == (8, 0, 0)
    fulfil_and_ship(
        order,
        location_id=where,
        carrier="UPS",
        tracking_number="1Z2",
        lines={engraving.id: 2},
        by=staff,
    )
    order = db.session.get(Order, order.id)
    assert order.fulfillment_status == FULFILLED
    assert stock_rows(checkout_shop.small) == (8, 0, 0)  # the engraving moved no stock
    assert pickable(order) == {}
    with pytest.raises(ValidationError):
        issue_refund(
            order,
            lines={engraving.id: 1},
            restock={engraving.id: where},
            idempotency_key="restock-engraving",
            by=staff,
        )
    refund = issue_refund(
        order, lines={engraving.id: 1, service.id: 1}, idempotency_key="r-custom", by=staff
    )
    assert refund.status == "succeeded"
    assert (
        refund.amount == 1250 + 62 + 4000
    )  # an engraving with its share of $1.25 tax, the service
    assert stock_rows(checkout_shop.small) == (8, 0, 0)


@pytest.mark.postgres
def test_on_postgresql_the_link_and_mark_as_paid_carry_custom_items(pg_app):
    """The same story with real commits on the migrated PostgreSQL schema: the JSON columns,
    the order lines without a variant, the manual payment and its refund."""
    from commerce.orders.refunds import issue_refund
    from commerce.payments.models import Payment
    from tests.conftest import build_checkout_shop

    pg_app.config["PRICES_INCLUDE_TAX"] = False
    shop = build_checkout_shop()
    draft = mixed_draft(shop, None)
    copy = duplicate_draft(draft, by=None)
    reserve_draft_stock(draft, by=None)
    send_invoice(draft, by=None)
    paid = place_order(draft.checkout_key, card=TEST_CARD).order
    marked = mark_draft_paid(copy, method="Cash at the counter", by=None)
    db.session.expire_all()
    for order in (db.session.get(Order, paid.id), db.session.get(Order, marked.id)):
        assert order.total == 11500 + 900 + 420
        assert [line.variant_id is None for line in order.lines] == [False, True, True]
    assert stock_rows(shop.small) == (10, 0, 4)
    payment = db.session.get(Payment, marked.payment_id)
    assert payment.is_manual and payment.how_paid == "Cash at the counter"
    service = next(line for line in marked.lines if line.title == "Setup service")
    refund = issue_refund(marked, lines={service.id: 1}, idempotency_key="pg-1", by=None)
    assert refund.status == "succeeded" and refund.amount == 4000
    assert db.session.get(Payment, payment.id).refunded_amount == 4000


def test_an_order_edit_keeps_custom_items_at_their_price(checkout_shop, staff):
    from commerce.orders.edits import edit_order

    draft = mixed_draft(checkout_shop, staff)
    send_invoice(draft, by=staff)
    order = place_order(draft.checkout_key, card=TEST_CARD).order
    tee, engraving, service = order.lines
    order = edit_order(order, quantities={tee.id: 1, engraving.id: 1, service.id: 0}, by=staff)
    assert [(line.title, line.quantity, line.tax) for line in order.lines] == [
        (tee.title, 1, 125),
        ("Engraving", 1, 62),  # 5% of $12.50, rounded half to even
    ]
    assert order.lines[1].variant_id is None and order.lines[1].sku == ""
    assert order.total == 2500 + 1250 + 900 + 125 + 62 + 45
    assert stock_rows(checkout_shop.small) == (10, 0, 1)  # one tee back on sale


def test_a_draft_marked_paid_tells_integrations_it_was_created_and_paid(
    httpserver, checkout_shop, staff, mail_dir
):
    import json

    from commerce.outbox import dispatch_pending
    from commerce.webhooks.payloads import TOPICS
    from commerce.webhooks.services import create_endpoint

    httpserver.expect_request("/hook").respond_with_data("ok")
    create_endpoint(url=httpserver.url_for("/hook"), topics=list(TOPICS), by=None)
    order = mark_draft_paid(mixed_draft(checkout_shop, staff), method="Bank transfer", by=staff)
    dispatch_pending()
    events = {
        event["type"]: event["data"]
        for event in (json.loads(r.get_data(as_text=True)) for r, _ in httpserver.log)
    }
    assert {"order.created", "order.paid"} <= set(events)
    assert events["order.paid"]["captured"] == {"amount": order.total, "currency": "USD"}
    lines = events["order.created"]["order"]["lines"]
    assert [line["variant_id"] for line in lines] == [checkout_shop.small, None, None]
