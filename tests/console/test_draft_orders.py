"""Draft orders through HTTP: support builds one, sends the invoice, the customer pays through
the emailed link in the shop's own payment step, and the draft becomes a normal order; an
admin marks one paid; the prices are the shop's."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.checkout.services import get_checkout, price_checkout
from commerce.drafts.models import COMPLETED, DraftOrder
from commerce.drafts.services import price_draft
from commerce.extensions import db
from commerce.orders.models import CONSOLE, PAID, Order
from tests.conftest import SHOP_URL, US_ADDRESS

CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}


def build_draft(client, shop, quantity=2):
    response = client.post("/console/orders/drafts/new", data={"email": "grace@example.com"})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    draft_url = response.location
    draft_id = int(draft_url.rsplit("/", 1)[1])
    page = client.get(f"{draft_url}?q=Field")
    assert "Available" in page.get_data(as_text=True)
    hits = client.get(f"{draft_url}/variants?q=Field", headers={"HX-Request": "true"})
    assert f'value="{shop.small}"' in hits.get_data(as_text=True)
    steps = [
        ("lines", {"variant_id": shop.small, "quantity": quantity}),
        ("customer", {"email": "grace@example.com", **US_ADDRESS}),
        ("shipping", {"shipping_method": "STD"}),
        (
            "discount",
            {"discount_kind": "amount", "discount_value": "4.00", "discount_reason": "Loyal"},
        ),
    ]
    for path, data in steps:
        answer = client.post(f"{draft_url}/{path}", data=data)
        assert answer.status_code == 303, (path, answer.get_data(as_text=True)[:500])
    return db.session.get(DraftOrder, draft_id), draft_url


def test_draft_invoiced_paid_through_the_link_and_completed(
    app, client, login, checkout_shop, mail_dir
):
    login("support")
    draft, draft_url = build_draft(client, checkout_shop)
    priced = price_draft(draft)
    assert priced.totals.discounts == 400
    page = client.get(draft_url).get_data(as_text=True)
    assert f"Total ${priced.totals.total / 100:,.2f}" in page
    assert "Mark as paid" not in page  # support may not
    assert client.post(f"{draft_url}/mark-paid", data={}).status_code == 403

    assert client.post(f"{draft_url}/invoice").status_code == 303
    (sent,) = mail_dir.glob("*invoice*.eml")
    message = message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert message["To"] == "grace@example.com"
    text = message.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(SHOP_URL)}(/pay/\S+)", text).group(1)

    shopper = app.test_client()
    assert shopper.get(f"/checkout/{draft.checkout_key}/payment").status_code == 404  # no link
    opened = shopper.get(link)
    assert opened.status_code == 303
    assert opened.location.endswith(f"/checkout/{draft.checkout_key}/payment")
    payment = shopper.get(opened.location)
    assert payment.status_code == 200
    body = payment.get_data(as_text=True)
    assert f"${priced.totals.total / 100:,.2f}" in body and "Loyal" in body
    assert shopper.get(f"/checkout/{draft.checkout_key}/information").status_code == 404
    checkout = get_checkout(draft.checkout_key)
    assert price_checkout(checkout) == priced  # the same pipeline, the same totals

    placed = shopper.post(f"/checkout/{draft.checkout_key}/place", data=CARD)
    assert placed.status_code == 303, placed.get_data(as_text=True)[:500]
    again = shopper.post(f"/checkout/{draft.checkout_key}/place", data=CARD)
    assert again.status_code == 303 and again.location == placed.location  # one order
    order = db.session.scalar(select(Order))
    assert order.total == priced.totals.total and order.number == order.id + 1000
    db.session.expire_all()
    draft = db.session.get(DraftOrder, draft.id)
    assert draft.status == COMPLETED and draft.order_id == order.id
    assert db.session.get(Order, order.id).channel == CONSOLE
    assert db.session.scalar(select(func.count(Order.id))) == 1
    # the link now shows the order; the invoice's PDF exists like any order's
    assert shopper.get(link).location == placed.location
    assert client.get(f"/console/orders/{order.id}/invoice.pdf").status_code == 200
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"draft_order.create", "draft_order.invoice", "draft_order.paid"} <= actions
    listing = client.get("/console/orders/drafts?status=completed").get_data(as_text=True)
    assert draft.name in listing


def test_an_admin_marks_a_draft_paid_after_confirming(client, login, checkout_shop, mail_dir):
    login("admin")
    _draft, draft_url = build_draft(client, checkout_shop, quantity=1)
    page = client.get(draft_url).get_data(as_text=True)
    assert 'data-dialog-open="paid-dialog"' in page and '<dialog id="paid-dialog"' in page
    answer = client.post(f"{draft_url}/mark-paid", data={"method": "Bank transfer 4711"})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    order = db.session.scalar(select(Order))
    assert answer.location.endswith(f"/console/orders/{order.id}")
    assert order.payment_status == PAID and order.paid_total == order.total
    timeline = client.get(answer.location).get_data(as_text=True)
    assert "Bank transfer 4711" in timeline
    assert client.post(f"{draft_url}/mark-paid", data={}).status_code == 409


def test_bad_input_is_answered_at_the_field(client, login, checkout_shop):
    login("support")
    _draft, draft_url = build_draft(client, checkout_shop)
    answer = client.post(
        f"{draft_url}/discount", data={"discount_kind": "percent", "discount_value": "150"}
    )
    assert answer.status_code == 422
    assert "from 1 to 100" in answer.get_data(as_text=True)
    answer = client.post(f"{draft_url}/lines", data={"variant_id": "99999999", "quantity": "1"})
    assert answer.status_code == 404 and "not for sale" in answer.get_data(as_text=True)
    answer = client.post(f"{draft_url}/code", data={"coupon_code": "NOPE"})
    assert answer.status_code == 422 and "not a valid code" in answer.get_data(as_text=True)
    answer = client.post(f"{draft_url}/reserve")
    assert answer.status_code == 303
    assert "2 units held" in client.get(draft_url).get_data(as_text=True)
    answer = client.post(
        f"{draft_url}/lines", data={"variant_id": checkout_shop.small, "quantity": "20"}
    )
    assert answer.status_code == 303  # no hold asked: added, and the old hold went back
    assert "Nothing is held" in client.get(draft_url).get_data(as_text=True)
    answer = client.post(f"{draft_url}/reserve")
    assert answer.status_code == 409 and "Not enough stock" in answer.get_data(as_text=True)
    duplicate = client.post(f"{draft_url}/duplicate")
    assert duplicate.status_code == 303 and duplicate.location != draft_url


def test_support_picks_an_existing_customer(client, login, make_customer, checkout_shop):
    customer = make_customer(email="known.buyer@example.com", name="Kim Known")
    login("support")
    options = client.get(
        "/console/orders/drafts/customers?email=known.b", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<option value="known.buyer@example.com">Kim Known' in options
    answer = client.post("/console/orders/drafts/new", data={"email": "Known.Buyer@example.com"})
    draft = db.session.get(DraftOrder, int(answer.location.rsplit("/", 1)[1]))
    assert draft.customer_id == customer.id and draft.email == "known.buyer@example.com"
    answer = client.post("/console/orders/drafts/new", data={"email": "not an email"})
    assert answer.status_code == 422
