"""Refund quotes and returns through the API: the quote writes nothing; a return is opened on
shipped units, received (restocked) and refunded by the same services as the console."""

from __future__ import annotations

from sqlalchemy import func, select

from commerce.extensions import db
from commerce.inventory.services import default_location
from commerce.orders.models import Refund

ORDERS = "/api/v1/orders"


def _ship(api, order):
    response = api.post(
        f"{ORDERS}/{order.id}/fulfillments",
        json={"location_id": default_location().id, "carrier": "UPS", "tracking_number": "1Z"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_quote_previews_and_writes_nothing(api, place):
    order = place(2)
    line = order.lines[0]
    body = {"lines": [{"order_line_id": line.id, "quantity": 1}]}
    quote = api.post(f"{ORDERS}/{order.id}/refunds/quote", json=body)
    assert quote.status_code == 200, quote.get_data(as_text=True)
    q = quote.get_json()
    assert q["lines"][0]["quantity"] == 1 and q["total"]["currency"] == order.currency
    assert q["total"]["amount"] == q["lines"][0]["amount"]["amount"] > 0
    assert q["refundable"]["amount"] == order.paid_total and q["needs_approval"] is False
    assert db.session.scalar(select(func.count(Refund.id))) == 0
    made = api.post(f"{ORDERS}/{order.id}/refunds", json=body)  # no reason: optional
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["amount"] == q["total"]


def test_quote_too_much_points_at_the_line(api, place):
    order = place(1)
    line = order.lines[0]
    response = api.post(
        f"{ORDERS}/{order.id}/refunds/quote",
        json={"lines": [{"order_line_id": line.id, "quantity": 9}]},
    )
    assert response.status_code == 422
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/lines/0"


def test_open_receive_and_refund_a_return(api, place):
    order = place(2)
    _ship(api, order)
    line = order.lines[0]
    opened = api.post(
        f"{ORDERS}/{order.id}/returns",
        json={"lines": [{"order_line_id": line.id, "quantity": 1}], "reason": "Too small"},
    )
    assert opened.status_code == 201, opened.get_data(as_text=True)
    rma = opened.get_json()
    assert rma["status"] == "open" and rma["lines"][0]["quantity"] == 1 and rma["refund"] is None
    queue = api.get("/api/v1/returns").get_json()["data"]
    assert [(r["id"], r["units"]) for r in queue] == [(rma["id"], 1)]

    received = api.post(
        f"/api/v1/returns/{rma['id']}/receive",
        json={
            "lines": [
                {
                    "return_line_id": rma["lines"][0]["id"],
                    "quantity": 1,
                    "disposition": "restock",
                    "location_id": default_location().id,
                }
            ]
        },
    )
    assert received.status_code == 200, received.get_data(as_text=True)
    done = received.get_json()
    assert done["status"] == "received" and done["lines"][0]["received_quantity"] == 1
    assert done["refund"]["status"] == "succeeded"
    assert api.get(f"/api/v1/returns/{rma['id']}").get_json() == done
    assert api.get("/api/v1/returns").get_json()["data"] == []
    assert [r["id"] for r in api.get("/api/v1/returns?status=received").get_json()["data"]] == [
        rma["id"]
    ]


def test_returning_unshipped_units_points_at_the_line(api, place):
    order = place(1)
    line = order.lines[0]
    response = api.post(
        f"{ORDERS}/{order.id}/returns",
        json={"lines": [{"order_line_id": line.id, "quantity": 1}], "reason": "x"},
    )
    assert response.status_code == 422
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/lines/0"


def test_returns_scopes(api_as, place):
    order = place(1)
    reader = api_as("orders:read")
    assert reader.get("/api/v1/returns").status_code == 200
    body = {"lines": [{"order_line_id": order.lines[0].id, "quantity": 1}], "reason": "x"}
    assert reader.post(f"{ORDERS}/{order.id}/returns", json=body).status_code == 403
    assert reader.post(f"{ORDERS}/{order.id}/refunds/quote", json=body).status_code == 403
