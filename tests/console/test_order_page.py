"""The console order page through HTTP: what each role sees and may do."""

from __future__ import annotations

import re

from commerce.extensions import db
from commerce.orders.models import Order
from commerce.outbox import dispatch_pending
from tests.conftest import htmx_headers


def page_text(response):
    return response.get_data(as_text=True)


def test_support_sees_the_order_but_cannot_fulfill(client, login, place):
    order = place(2)
    login("support")
    response = client.get(f"/console/orders/{order.id}")
    html = page_text(response)
    assert response.status_code == 200
    assert f"Order {order.name}" in html and "ada@example.com" in html
    assert "Start parcel" not in html  # support does not fulfill
    assert (
        client.post(f"/console/orders/{order.id}/fulfillments", data={"location_id": 1}).status_code
        == 403
    )


def test_merchandiser_cannot_see_orders(client, login, place):
    order = place(1)
    login("merchandiser")
    assert client.get(f"/console/orders/{order.id}").status_code == 403


def test_warehouse_picks_and_ships(client, login, place, mail_dir):
    order = place(2)
    login("warehouse")
    html = page_text(client.get(f"/console/orders/{order.id}"))
    location_id = re.search(r'name="location_id" value="(\d+)"', html).group(1)
    line_id = order.lines[0].id
    response = client.post(
        f"/console/orders/{order.id}/fulfillments",
        data={"location_id": location_id, f"qty-{line_id}": "5"},
    )
    assert response.status_code == 422
    assert "Only 2 of this line wait at this location." in page_text(response)
    response = client.post(
        f"/console/orders/{order.id}/fulfillments",
        data={"location_id": location_id, f"qty-{line_id}": "2"},
    )
    assert response.status_code == 303
    parcel = db.session.get(Order, order.id).fulfillments[0]
    missing = client.post(
        f"/console/orders/{order.id}/fulfillments/{parcel.id}/ship", data={"carrier": "UPS"}
    )
    assert missing.status_code == 422 and "Enter the tracking number." in page_text(missing)
    response = client.post(
        f"/console/orders/{order.id}/fulfillments/{parcel.id}/ship",
        data={"carrier": "UPS", "tracking_number": "1Z42"},
        headers=htmx_headers(),
    )
    assert response.status_code == 204 and "HX-Location" in response.headers
    order = db.session.get(Order, order.id)
    assert order.fulfillment_status == "fulfilled" and order.status == "completed"
    dispatch_pending()
    assert any("shipment" in p.name for p in mail_dir.glob("*.eml"))


def test_notes_and_customer_comments(client, login, place):
    order = place(1)
    login("support")
    assert client.post(f"/console/orders/{order.id}/notes", data={"text": ""}).status_code == 422
    client.post(f"/console/orders/{order.id}/notes", data={"text": "Called the customer."})
    client.post(
        f"/console/orders/{order.id}/notes",
        data={"text": "Your parcel leaves tomorrow.", "visibility": "customer"},
    )
    html = page_text(client.get(f"/console/orders/{order.id}"))
    assert "Called the customer." in html and "Customer comment" in html
    order = db.session.get(Order, order.id)
    assert [e.customer_visible for e in order.events if e.kind in ("note", "comment")] == [
        False,
        True,
    ]


def test_support_edits_an_order(client, login, place, checkout_shop):
    order = place(2)
    login("support")
    line = order.lines[0]
    page = client.get(f"/console/orders/{order.id}/edit")
    assert page.status_code == 200 and "Save changes" in page_text(page)
    bad = client.post(
        f"/console/orders/{order.id}/edit",
        data={f"line-{line.id}": "2", "add_sku": "NOPE-404", **order.shipping_address},
    )
    assert bad.status_code == 422 and "No variant has that SKU." in page_text(bad)
    medium_sku = next(v.sku for v in checkout_shop.product.variants if v.id == checkout_shop.medium)
    response = client.post(
        f"/console/orders/{order.id}/edit",
        data={
            f"line-{line.id}": "1",
            "add_sku": medium_sku,
            "add_quantity": "2",
            "reason": "Swap a size",
            **order.shipping_address,
        },
    )
    assert response.status_code == 303
    order = db.session.get(Order, order.id)
    assert sorted(line.quantity for line in order.lines) == [1, 2]
    assert any("Swap a size" in e.message for e in order.events)


def test_cancel_an_authorized_order(client, login, place, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    order = place(2)
    login("support")
    missing = client.post(f"/console/orders/{order.id}/cancel", data={"reason": ""})
    assert missing.status_code == 422 and "Say why the order is cancelled." in page_text(missing)
    response = client.post(f"/console/orders/{order.id}/cancel", data={"reason": "Duplicate"})
    assert response.status_code == 303
    order = db.session.get(Order, order.id)
    assert (order.status, order.payment_status) == ("cancelled", "voided")
    from commerce.inventory.services import availability

    variant = order.lines[0].variant_id
    assert availability([variant])[variant].available == 10


def test_customer_sees_comments_and_shipments_not_notes(app, client, login, place):
    from commerce.orders.services import order_status_token

    order = place(1)
    login("support")
    client.post(f"/console/orders/{order.id}/notes", data={"text": "Internal only."})
    client.post(
        f"/console/orders/{order.id}/notes",
        data={"text": "Packed with care.", "visibility": "customer"},
    )
    with app.test_request_context():
        token = order_status_token(db.session.get(Order, order.id))
    html = page_text(app.test_client().get(f"/orders/{token}"))
    assert "Packed with care." in html and "Internal only." not in html
