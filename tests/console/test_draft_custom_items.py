"""Custom items on a draft order through HTTP: added and edited in the console (bad input
answered at the field, 422, nothing written), held stock is only the catalog item's, the
customer pays through the emailed link in the shop's own payment step, and the order, its
invoice and packing slip PDFs show the custom items; the shop's cart never takes one."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from io import BytesIO

from pypdf import PdfReader
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.checkout.models import Cart, CartLine, Checkout
from commerce.drafts.models import COMPLETED, DraftOrder
from commerce.drafts.services import price_draft
from commerce.extensions import db
from commerce.inventory.models import Reservation
from commerce.orders.models import Order
from tests.conftest import SHOP_URL, US_ADDRESS

CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}
NY = {**US_ADDRESS, "city": "New York", "region": "NY", "postal_code": "10001"}


def pdf_text(data: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(BytesIO(data)).pages))


def test_custom_items_from_the_console_to_the_paid_order(
    app, client, login, checkout_shop, mail_dir
):
    login("support")
    response = client.post("/console/orders/drafts/new", data={"email": "grace@example.com"})
    draft_url = response.location
    draft_id = int(draft_url.rsplit("/", 1)[1])
    posts = [
        ("lines", {"variant_id": checkout_shop.small, "quantity": 2}),
        (
            "custom-lines",
            {
                "title": "Engraving",
                "unit_price": "$12.50",
                "quantity": "2",
                "taxable": "1",
                "requires_shipping": "1",
            },
        ),
        ("custom-lines", {"title": "Setup service", "unit_price": "40.00", "quantity": "1"}),
        ("customer", {"email": "grace@example.com", **NY}),
        ("shipping", {"shipping_method": "HEAVY"}),
    ]
    for path, data in posts:
        answer = client.post(f"{draft_url}/{path}", data=data)
        assert answer.status_code == 303, (path, answer.get_data(as_text=True)[:500])
    draft = db.session.get(DraftOrder, draft_id)
    assert [row["title"] for row in draft.custom_lines] == ["Engraving", "Setup service"]
    assert draft.custom_lines[1]["taxable"] is False  # unticked boxes
    assert draft.custom_lines[1]["requires_shipping"] is False

    # bad input: every field answered, nothing written
    before = list(draft.custom_lines)
    bad = client.post(
        f"{draft_url}/custom-lines", data={"title": "", "unit_price": "12.345", "quantity": "-1"}
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Enter what the item is." in page and "at most 2 decimal places" in page
    assert "cannot be negative" in page
    key = before[0]["key"]
    bad = client.post(
        f"{draft_url}/custom-lines/update",
        data={"key": key, "title": "Engraving", "unit_price": "-1", "quantity": "2"},
    )
    assert bad.status_code == 422 and "The price cannot be negative." in bad.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DraftOrder, draft_id).custom_lines == before

    # the page shows them with the shop's totals (5% NY tax, not on the service)
    draft = db.session.get(DraftOrder, draft_id)
    priced = price_draft(draft)
    assert priced.totals.total == 5000 + 2500 + 4000 + 900 + 250 + 125 + 45
    page = client.get(draft_url).get_data(as_text=True)
    assert "Engraving" in page and "Setup service" in page and "not shipped" in page
    assert f"Total ${priced.totals.total / 100:,.2f}" in page

    # an edit and a removal, audited; a duplicate carries them
    assert (
        client.post(
            f"{draft_url}/custom-lines",
            data={"title": "Oops", "unit_price": "1", "quantity": "1"},
        ).status_code
        == 303
    )
    db.session.expire_all()
    oops = db.session.get(DraftOrder, draft_id).custom_lines[-1]["key"]
    removed = client.post(
        f"{draft_url}/custom-lines/update",
        data={"key": oops, "title": "Oops", "unit_price": "1", "quantity": "1", "remove": "1"},
    )
    assert removed.status_code == 303
    duplicate = client.post(f"{draft_url}/duplicate")
    copy = db.session.get(DraftOrder, int(duplicate.location.rsplit("/", 1)[1]))
    assert [row["title"] for row in copy.custom_lines] == ["Engraving", "Setup service"]
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {
        "draft_order.add_custom_line",
        "draft_order.remove_custom_line",
        "draft_order.duplicate",
    } <= actions

    # holding stock holds the tees only
    assert client.post(f"{draft_url}/reserve").status_code == 303
    holds = db.session.execute(select(Reservation.variant_id, Reservation.quantity)).all()
    assert [tuple(h) for h in holds] == [(checkout_shop.small, 2)]

    # the invoice, and the customer paying through its link in the shop
    assert client.post(f"{draft_url}/invoice").status_code == 303
    (sent,) = mail_dir.glob("*invoice*.eml")
    text = message_from_bytes(sent.read_bytes(), policy=policy.default)
    body = text.get_body(("plain",)).get_content()
    assert "Engraving" in body and "Setup service" in body
    link = re.search(rf"{re.escape(SHOP_URL)}(/pay/\S+)", body).group(1)
    shopper = app.test_client()
    opened = shopper.get(link)
    payment_page = shopper.get(opened.location).get_data(as_text=True)
    assert "Engraving" in payment_page and f"${priced.totals.total / 100:,.2f}" in payment_page
    placed = shopper.post(f"/checkout/{draft.checkout_key}/place", data=CARD)
    assert placed.status_code == 303, placed.get_data(as_text=True)[:500]
    assert "Setup service" in shopper.get(placed.location).get_data(as_text=True)

    order = db.session.scalar(select(Order))
    assert order.total == priced.totals.total
    db.session.expire_all()
    assert db.session.get(DraftOrder, draft_id).status == COMPLETED
    lines = {line.title: line for line in db.session.get(Order, order.id).lines}
    assert lines["Engraving"].variant_id is None and lines["Engraving"].tax == 125
    assert lines["Setup service"].tax == 0 and not lines["Setup service"].requires_shipping
    page = client.get(f"/console/orders/{order.id}").get_data(as_text=True)
    assert "Engraving" in page and "Setup service" in page
    invoice = client.get(f"/console/orders/{order.id}/invoice.pdf")
    assert invoice.status_code == 200
    text = pdf_text(invoice.data)
    assert "Engraving" in text and "Setup service" in text and "$12.50" in text
    slip = client.get(f"/console/orders/{order.id}/packing-slip.pdf")
    others = [p for p in mail_dir.glob("*.eml") if "invoice" not in p.name]
    texts = [
        message_from_bytes(p.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
        for p in others
    ]
    assert any("Engraving" in t and "Setup service" in t for t in texts), [p.name for p in others]
    slip_text = pdf_text(slip.data)
    assert slip.status_code == 200 and "Engraving" in slip_text
    assert "Setup service" not in slip_text  # it does not ship: nothing to pack


def test_the_shops_cart_takes_no_custom_item_or_price(client, checkout_shop):
    posted = client.post(
        "/cart/add", data={"title": "A free TV", "unit_price": "0.01", "quantity": "1"}
    )
    assert 400 <= posted.status_code < 500
    assert db.session.scalar(select(func.count(CartLine.id))) == 0
    forged = {
        "variant_id": checkout_shop.small,
        "quantity": "1",
        "unit_price": "0.01",
        "price": "0.01",
        "title": "Cheap",
        "custom_lines": '[{"title": "x", "unit_price": 1, "quantity": 1}]',
    }
    assert client.post("/cart/add", data=forged).status_code == 303
    assert client.post("/checkout", data=forged).status_code == 303
    (checkout,) = db.session.scalars(select(Checkout)).all()
    assert checkout.custom_lines == [] and checkout.line_pairs() == [(checkout_shop.small, 1)]
    cart = db.session.scalar(select(Cart))
    page = client.get("/cart").get_data(as_text=True)
    assert "$25.00" in page and "Cheap" not in page and "$0.01" not in page
    assert cart.item_count == 1


def test_the_warehouse_packs_and_ships_a_custom_item_from_the_order_page(
    app, client, login, checkout_shop, make_staff
):
    from commerce.drafts.services import (
        add_draft_custom_line,
        add_draft_line,
        choose_draft_shipping,
        create_draft,
        mark_draft_paid,
        set_draft_customer,
    )
    from commerce.inventory.services import default_location
    from commerce.orders.models import FULFILLED, Fulfillment

    admin = make_staff("admin")
    draft = create_draft(email="grace@example.com", by=admin)
    add_draft_line(draft, variant_id=checkout_shop.small, quantity=1, by=admin)
    add_draft_custom_line(draft, title="Framed print", unit_price="30", by=admin)
    add_draft_custom_line(
        draft, title="Hanging service", unit_price="20", requires_shipping="", by=admin
    )
    set_draft_customer(draft, email="grace@example.com", address=NY, by=admin)
    choose_draft_shipping(draft, code="STD", by=admin)
    order = mark_draft_paid(draft, method="Cash", by=admin)
    tee, frame, service = order.lines

    login("warehouse")
    page = client.get(f"/console/orders/{order.id}").get_data(as_text=True)
    assert f'name="qty-{frame.id}"' in page and f'name="qty-{service.id}"' not in page
    where = default_location().id
    picked = client.post(
        f"/console/orders/{order.id}/fulfillments",
        data={"location_id": where, f"qty-{tee.id}": "1", f"qty-{frame.id}": "1"},
    )
    assert picked.status_code == 303, picked.get_data(as_text=True)[:500]
    parcel = db.session.scalar(select(Fulfillment))
    shipped = client.post(
        f"/console/orders/{order.id}/fulfillments/{parcel.id}/ship",
        data={"carrier": "UPS", "tracking_number": "1Z999"},
    )
    assert shipped.status_code == 303, shipped.get_data(as_text=True)[:500]
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.fulfillment_status == FULFILLED
    assert {line.title: line.fulfilled_quantity for line in order.lines} == {
        tee.title: 1,
        "Framed print": 1,
        "Hanging service": 0,
    }
