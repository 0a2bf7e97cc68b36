"""A draft marked paid leaves a payment record (received outside the shop, how it was paid),
and refunds of that order, from the console and from the Admin API, in part and in full, are
booked as paid back outside the shop: no card provider is asked, the approval limit applies."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from commerce import outbox
from commerce.audit import AuditEntry
from commerce.documents.render import credit_note_pdf, invoice_pdf
from commerce.drafts.services import (
    add_draft_custom_line,
    add_draft_line,
    choose_draft_shipping,
    create_draft,
    mark_draft_paid,
    set_draft_customer,
)
from commerce.extensions import db
from commerce.orders.models import (
    PARTIALLY_REFUNDED,
    REFUND_AWAITING_APPROVAL,
    REFUND_SUCCEEDED,
    REFUNDED,
    Order,
    OrderEvent,
    Refund,
)
from commerce.orders.refunds import issue_refund
from commerce.payments.models import CAPTURE, REFUND, Payment, PaymentTransaction
from commerce.payments.provider import NOT_FOUND
from commerce.payments.services import get_provider
from tests.conftest import US_ADDRESS


def paid_draft_order(shop, staff) -> Order:
    draft = create_draft(email="grace@example.com", by=staff)
    add_draft_line(draft, variant_id=shop.small, quantity=1, by=staff)
    add_draft_custom_line(draft, title="Gift engraving", unit_price="10.00", by=staff)
    set_draft_customer(draft, email="grace@example.com", address=US_ADDRESS, by=staff)
    choose_draft_shipping(draft, code="STD", by=staff)
    return mark_draft_paid(draft, method="Bank transfer ref 4711", by=staff)


def pdf_text(data: bytes) -> str:
    from io import BytesIO

    from pypdf import PdfReader

    pages = PdfReader(BytesIO(data)).pages
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages))


def sandbox_never_saw(tx: PaymentTransaction) -> bool:
    answer = get_provider("test").lookup(kind=REFUND, idempotency_key=tx.provider_key or "")
    return answer.status == NOT_FOUND


def test_marked_paid_records_a_manual_payment_and_refunds_go_outside_the_shop(
    client, login, checkout_shop, api
):
    admin = login("admin")
    order = paid_draft_order(checkout_shop, admin)
    payment = db.session.get(Payment, order.payment_id)
    assert payment.is_manual and payment.how_paid == "Bank transfer ref 4711"
    assert payment.captured_amount == order.total == order.paid_total
    assert [tx.kind for tx in payment.transactions] == [CAPTURE]
    page = client.get(f"/console/orders/{order.id}").get_data(as_text=True)
    assert "Paid outside the shop (Bank transfer ref 4711)" in page
    assert "Gift engraving" in page

    # partial, from the console: the custom line, reviewed then confirmed
    custom = next(line for line in order.lines if line.is_custom)
    form = {f"qty-{custom.id}": "1", "shipping_amount": "0", "extra_amount": "0"}
    review = client.post(f"/console/orders/{order.id}/refund", data=form)
    assert review.status_code == 200, review.get_data(as_text=True)[:400]
    assert "paid outside the shop" in review.get_data(as_text=True)
    answer = client.post(
        f"/console/orders/{order.id}/refund/confirm", data={**form, "idempotency_key": "r-1"}
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "pay the customer back yourself" in body
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.payment_status == PARTIALLY_REFUNDED
    first = max(db.session.get(Payment, order.payment_id).transactions, key=lambda t: t.id)
    assert first.kind == REFUND and first.amount == 1072  # $10.00 + 7.25% (California)
    assert "outside the shop" in first.message and sandbox_never_saw(first)

    # the rest, through the Admin API
    rest = [
        {"order_line_id": line.id, "quantity": line.refundable_quantity}
        for line in order.lines
        if line.refundable_quantity
    ]
    left = order.paid_total - order.refunded_total
    shipping = order.shipping_total + order.shipping_tax  # what the customer paid for it
    response = api.post(
        f"/api/v1/orders/{order.id}/refunds",
        json={"lines": rest, "shipping": {"amount": shipping, "currency": "USD"}},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    refund = response.get_json()
    assert refund["status"] == REFUND_SUCCEEDED and refund["paid_outside_shop"] is True
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    payment = db.session.get(Payment, order.payment_id)
    assert refund["amount"]["amount"] == left
    assert order.payment_status == REFUNDED and payment.refunded_amount == order.total
    assert all(sandbox_never_saw(tx) for tx in payment.transactions if tx.kind == REFUND)
    # the documents say how it was paid and where the money went back
    outbox.dispatch_pending()
    invoice = pdf_text(invoice_pdf(order))
    assert "Bank transfer ref 4711" in invoice and "Gift engraving" in invoice
    (done,) = [r for r in db.session.scalars(select(Refund)) if r.id == refund["id"]]
    assert "Paid back to you directly" in pdf_text(credit_note_pdf(done))
    messages = [e.message for e in db.session.scalars(select(OrderEvent))]
    assert any("refunded outside the shop" in m for m in messages)
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"draft_order.mark_paid", "order.refund_succeeded"} <= actions


def test_the_approval_limit_holds_for_manual_refunds(app, checkout_shop, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 500)
    order = paid_draft_order(checkout_shop, make_staff("admin"))
    custom = next(line for line in order.lines if line.is_custom)
    agent = make_staff("support")
    refund = issue_refund(order, lines={custom.id: 1}, idempotency_key="big", by=agent)
    assert refund.status == REFUND_AWAITING_APPROVAL
    assert db.session.get(Payment, order.payment_id).refunded_amount == 0


@pytest.mark.parametrize("quantity", [1])
def test_a_custom_line_refund_cannot_be_restocked(checkout_shop, make_staff, quantity):
    from commerce.errors import ValidationError
    from commerce.inventory.services import default_location

    staff = make_staff("admin")
    order = paid_draft_order(checkout_shop, staff)
    custom = next(line for line in order.lines if line.is_custom)
    with pytest.raises(ValidationError):
        issue_refund(
            order,
            lines={custom.id: quantity},
            restock={custom.id: default_location().id},
            idempotency_key="restock",
            by=staff,
        )


def test_cancelling_a_manually_paid_order_refunds_it_outside_the_shop(
    checkout_shop, make_staff, api
):
    from commerce.orders.models import CANCELLED

    order = paid_draft_order(checkout_shop, make_staff("admin"))
    response = api.post(f"/api/v1/orders/{order.id}/cancel", json={"reason": "Changed mind"})
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    payment = db.session.get(Payment, order.payment_id)
    assert order.status == CANCELLED and order.payment_status == REFUNDED
    assert payment.refunded_amount == order.total
    assert all(sandbox_never_saw(tx) for tx in payment.transactions if tx.kind == REFUND)
