"""The refund dialog, approvals and returns on the console order page, through HTTP."""

from __future__ import annotations

import re

from commerce.extensions import db
from commerce.inventory.services import availability
from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment
from commerce.orders.models import Order, Refund
from tests.conftest import htmx_headers


def text(response):
    return response.get_data(as_text=True)


def shipped(place, make_staff, quantity=2):
    order = place(quantity)
    warehouse = make_staff("warehouse")
    (location_id,) = pickable(order)
    parcel = create_fulfillment(order, location_id=location_id, by=warehouse)
    ship_fulfillment(parcel, carrier="UPS", tracking_number="1Z", by=warehouse)
    return db.session.get(Order, order.id), location_id


def test_refund_one_line_with_restock(client, login, place, make_staff):
    order, location_id = shipped(place, make_staff)
    line = order.lines[0]
    login("support")
    choose = client.get(f"/console/orders/{order.id}/refund")
    assert choose.status_code == 200 and "Review refund" in text(choose)
    form = {f"qty-{line.id}": "1", f"restock-{line.id}": str(location_id), "reason": "Too small"}
    review = client.post(f"/console/orders/{order.id}/refund", data=form)
    html = text(review)
    assert review.status_code == 200 and "Check before confirming" in html
    # One unit of 25.00 with CA tax 7.25% added (1.81 of the 3.62 line tax) = 26.81
    assert "$26.81" in html and "Back into" in html
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    confirm = {**form, "idempotency_key": key, "shipping_amount": "0.00", "extra_amount": "0.00"}
    answer = client.post(f"/console/orders/{order.id}/refund/confirm", data=confirm)
    assert answer.status_code == 200 and "succeeded" in text(answer)
    again = client.post(f"/console/orders/{order.id}/refund/confirm", data=confirm)
    assert again.status_code == 200
    assert db.session.query(Refund).count() == 1  # the double click refunded once
    order = db.session.get(Order, order.id)
    assert order.refunded_total == 2681 and order.payment_status == "partially_refunded"
    assert availability([line.variant_id])[line.variant_id].available == 9  # 10 - 2 + 1


def test_refunding_unshipped_units_says_they_will_not_ship(client, login, place):
    order = place(2)
    line = order.lines[0]
    login("support")
    form = {f"qty-{line.id}": "1", "reason": "Changed their mind"}
    review = client.post(f"/console/orders/{order.id}/refund", data=form)
    assert "1 unshipped: will not ship, back on sale" in text(review)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', text(review)).group(1)
    confirm = {**form, "idempotency_key": key, "shipping_amount": "0.00", "extra_amount": "0.00"}
    client.post(f"/console/orders/{order.id}/refund/confirm", data=confirm)
    order = db.session.get(Order, order.id)
    assert sum(p.quantity for picks in pickable(order).values() for p in picks) == 1
    assert availability([line.variant_id])[line.variant_id].available == 9  # 10 - 2 + 1


def test_refund_input_errors(client, login, place):
    order = place(1)
    login("support")
    line = order.lines[0]
    response = client.post(
        f"/console/orders/{order.id}/refund",
        data={f"qty-{line.id}": "5", "shipping_amount": "1.234", "reason": ""},
    )
    html = text(response)
    assert response.status_code == 422
    assert "at most 2 decimal places" in html and "Say why you refund" not in html  # optional
    assert db.session.query(Refund).count() == 0


def test_large_refund_waits_for_an_admin(app, client, login, place, monkeypatch, make_staff):
    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 1000)
    order = place(2)
    login("support")
    line = order.lines[0]
    form = {f"qty-{line.id}": "2", "reason": "Never arrived", "idempotency_key": "k-1"}
    answer = client.post(f"/console/orders/{order.id}/refund/confirm", data=form)
    assert "waits for an admin" in text(answer)
    refund = db.session.query(Refund).one()
    assert refund.status == "awaiting_approval"
    approve = f"/console/orders/{order.id}/refunds/{refund.id}/approve"
    assert client.post(approve).status_code == 403  # support cannot approve
    client.post("/console/logout")
    login("admin")
    assert client.post(approve).status_code == 303
    db.session.refresh(refund)
    assert refund.status == "succeeded"


def test_a_large_refund_split_over_http_still_waits_for_an_admin(
    app, client, login, place, monkeypatch
):
    """The probe's replay: support splits 15.00 into three 5.00 refunds against a 10.00 limit."""
    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 1000)
    order = place(2)
    login("support")
    answers = [
        client.post(
            f"/console/orders/{order.id}/refund/confirm",
            data={"extra_amount": "5.00", "reason": "Goodwill", "idempotency_key": f"split-{i}"},
        )
        for i in range(3)
    ]
    assert "waits for an admin" in text(answers[2])
    statuses = [r.status for r in db.session.query(Refund).order_by(Refund.id)]
    assert statuses == ["succeeded", "succeeded", "awaiting_approval"]


def test_return_received_restocks_and_refunds(client, login, place, make_staff):
    order, location_id = shipped(place, make_staff)
    line = order.lines[0]
    login("support")
    response = client.post(
        f"/console/orders/{order.id}/returns",
        data={f"return-{line.id}": "1", "reason": "Wrong colour"},
    )
    assert response.status_code == 303
    order = db.session.get(Order, order.id)
    rma = order.returns[0]
    rline = rma.lines[0]
    response = client.post(
        f"/console/orders/{order.id}/returns/{rma.id}/receive",
        data={
            f"received-{rline.id}": "1",
            f"disposition-{rline.id}": "restock",
            f"location-{rline.id}": str(location_id),
            "refund": "1",
            "idempotency_key": "rma-test",
        },
    )
    assert response.status_code == 303
    order = db.session.get(Order, order.id)
    assert order.returns[0].status == "received"
    assert order.fulfillment_status == "partially_returned"
    assert order.refunded_total > 0
    assert availability([line.variant_id])[line.variant_id].available == 9


def test_running_total_follows_the_choice(client, login, place, make_staff):
    """The choose step's total is the server's quote (tax inside, approval), as one types."""
    order, _ = shipped(place, make_staff)
    login("support")
    page = text(client.get(f"/console/orders/{order.id}/refund"))
    assert 'id="refund-total"' in page and "/refund/total" in page and "Refund now" in page
    line = order.lines[0]
    url = f"/console/orders/{order.id}/refund/total"
    one = text(client.post(url, data={f"qty-{line.id}": "1"}, headers=htmx_headers()))
    assert "Refund total: $26.81" in one and "<html" not in one  # 25.00 + 7.25% CA tax
    two = text(client.post(url, data={f"qty-{line.id}": "2", "shipping_amount": "1.00"}))
    assert "Refund total: $54.62" in two  # 2 x 26.81 + 1.00 shipping
    wrong = text(client.post(url, data={f"qty-{line.id}": "9"}))
    assert "field-msg" in wrong
    assert db.session.query(Refund).count() == 0


def test_refund_now_from_the_first_step_without_a_reason(client, login, place, make_staff):
    order, _ = shipped(place, make_staff)
    login("support")
    line = order.lines[0]
    data = {f"qty-{line.id}": "1", "reason": "", "idempotency_key": "refund-now-1"}
    response = client.post(f"/console/orders/{order.id}/refund/confirm", data=data)
    assert response.status_code == 200 and "succeeded" in text(response)
    again = client.post(f"/console/orders/{order.id}/refund/confirm", data=data)
    assert again.status_code == 200
    refund = db.session.query(Refund).one()  # the repeat refunded nothing more
    assert refund.reason == "" and refund.status == "succeeded"


def test_restock_goes_to_the_default_location_unless_another_is_chosen(
    client, login, place, make_staff
):
    order, location_id = shipped(place, make_staff)
    line = order.lines[0]
    login("support")
    page = text(client.get(f"/console/orders/{order.id}/refund"))
    assert re.search(r'<option value="\d+" selected>[^<]*\(default\)</option>', page)
    assert f'name="restock-{line.id}" value="default"' in page
    form = {f"qty-{line.id}": "1", f"restock-{line.id}": "default", "idempotency_key": "rs-1"}
    missing = client.post(f"/console/orders/{order.id}/refund", data=form)
    assert missing.status_code == 422 and "Choose where restocked units go." in text(missing)
    form["restock_location"] = str(location_id)
    done = client.post(f"/console/orders/{order.id}/refund/confirm", data=form)
    assert done.status_code == 200 and "succeeded" in text(done)
    refund = db.session.query(Refund).one()
    assert [(rl.restock, rl.location_id) for rl in refund.lines] == [(True, location_id)]
