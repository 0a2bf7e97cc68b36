"""Orders and customers through the API: the console's filters and sorts, a shipped parcel
with tracking through the fulfilment services, cancellation."""

from __future__ import annotations

from commerce.inventory.services import default_location

URL = "/api/v1/orders"


def test_list_filters_and_sorts(api, place):
    small, big = place(1), place(3)
    listed = api.get(f"{URL}?sort=total&direction=asc").get_json()["data"]
    ids = [o["id"] for o in listed]
    assert ids.index(small.id) < ids.index(big.id)
    assert listed[0]["total"]["currency"] == "USD"
    one = api.get(f"{URL}?email={small.email}&limit=1").get_json()
    assert one["data"] and all(o["email"] == small.email for o in one["data"])
    cancelled = api.get(f"{URL}?status=cancelled").get_json()["data"]
    assert small.id not in [o["id"] for o in cancelled]


def test_pages_follow_the_sort(api, place):
    made = {place(1).id for _ in range(3)}
    seen, url = [], f"{URL}?limit=2&sort=number&direction=asc"
    while url:
        body = api.get(url).get_json()
        seen += [o["id"] for o in body["data"]]
        url = body["links"]["next"]
        if url:
            assert "sort=number" in url and "direction=asc" in url
    assert made <= set(seen) and seen == sorted(seen)


def test_unknown_filter_value_is_400(api):
    response = api.get(f"{URL}?status=lost")
    assert response.status_code == 400
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/status"


def test_read_one(api, place):
    order = place(2)
    body = api.get(f"{URL}/{order.id}").get_json()
    assert body["lines"][0]["quantity"] == 2
    assert body["total"] == {"amount": order.total, "currency": order.currency}
    assert body["fulfillment_status"] == "unfulfilled"


def test_ship_with_tracking(api, place):
    order = place(2)
    location = default_location()
    response = api.post(
        f"{URL}/{order.id}/fulfillments",
        json={"location_id": location.id, "carrier": "UPS", "tracking_number": "1Z999"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    parcel = response.get_json()
    assert parcel["status"] == "shipped" and parcel["tracking_number"] == "1Z999"
    after = api.get(f"{URL}/{order.id}").get_json()
    assert after["fulfillment_status"] == "fulfilled"
    assert after["lines"][0]["fulfilled_quantity"] == 2


def test_ship_without_tracking_is_422_and_leaves_no_parcel(api, place):
    order = place(1)
    response = api.post(
        f"{URL}/{order.id}/fulfillments",
        json={"location_id": default_location().id, "carrier": "UPS", "tracking_number": ""},
    )
    assert response.status_code == 422
    assert api.get(f"{URL}/{order.id}").get_json()["fulfillments"] == []


def test_cancel_then_cancel_shipped_is_409(api, place):
    order = place(1)
    response = api.post(f"{URL}/{order.id}/cancel", json={"reason": "Customer asked"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "cancelled"
    shipped = place(1)
    api.post(
        f"{URL}/{shipped.id}/fulfillments",
        json={"location_id": default_location().id, "carrier": "UPS", "tracking_number": "1Z1"},
    )
    refused = api.post(f"{URL}/{shipped.id}/cancel", json={"reason": "Too late"})
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"


def test_orders_read_scope_cannot_cancel(api_as, place):
    order = place(1)
    client = api_as("orders:read")
    assert client.get(f"{URL}/{order.id}").status_code == 200
    assert client.post(f"{URL}/{order.id}/cancel", json={"reason": "x"}).status_code == 403


def test_customers(api, make_customer):
    customer = make_customer(email="ada@example.com", name="Ada")
    listed = api.get("/api/v1/customers?q=ada").get_json()["data"]
    assert [c["id"] for c in listed] == [customer.id]
    one = api.get(f"/api/v1/customers/{customer.id}").get_json()
    assert one["email"] == "ada@example.com" and one["addresses"] == []
    assert api.get("/api/v1/customers/999999").status_code == 404


def test_refund_a_line(api, place):
    order = place(2)
    line = order.lines[0]
    body = {"lines": [{"order_line_id": line.id, "quantity": 1}], "reason": "Damaged"}
    response = api.post(f"{URL}/{order.id}/refunds", json=body, key="rma-1")
    assert response.status_code == 201, response.get_data(as_text=True)
    refund = response.get_json()
    assert refund["status"] == "succeeded"
    assert refund["lines"] == [
        {
            "order_line_id": line.id,
            "quantity": 1,
            "amount": refund["lines"][0]["amount"],
            "restock": False,
            "location_id": None,
        }
    ]
    assert refund["amount"]["amount"] > 0
    again = api.post(f"{URL}/{order.id}/refunds", json=body, key="rma-1")
    assert again.get_json() == refund
    assert api.get(f"{URL}/{order.id}").get_json()["refunded_total"] == refund["amount"]


def test_a_large_refund_waits_for_an_admin(app, api, place, monkeypatch):
    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 100)
    order = place(1)
    response = api.post(
        f"{URL}/{order.id}/refunds",
        json={"lines": [{"order_line_id": order.lines[0].id, "quantity": 1}], "reason": "x"},
    )
    assert response.status_code == 201
    assert response.get_json()["status"] == "awaiting_approval"


def test_refund_needs_its_scope(api_as, place):
    order = place(1)
    client = api_as("orders:write")
    response = client.post(
        f"{URL}/{order.id}/refunds",
        json={"lines": [{"order_line_id": order.lines[0].id, "quantity": 1}], "reason": "x"},
    )
    assert response.status_code == 403


def test_refunding_more_than_ordered_is_a_problem(api, place):
    order = place(1)
    response = api.post(
        f"{URL}/{order.id}/refunds",
        json={"lines": [{"order_line_id": order.lines[0].id, "quantity": 5}], "reason": "x"},
    )
    assert response.status_code in (409, 422)
    assert response.mimetype == "application/problem+json"
