"""The order page's actions (issue 16): cancelling sits behind a button and a confirm dialog
(the server checks the reason and the order's state whatever the page did), and "Fulfil items"
at the top leads to the pick forms when something waits to ship."""

from __future__ import annotations

import re

from commerce.extensions import db
from commerce.orders.models import Order
from tests.commerce.orders.factories import place_paid_order, ship


def body(response) -> str:
    return response.get_data(as_text=True)


def outside_dialog(html: str) -> str:
    return re.sub(r'<dialog id="cancel-dialog".*?</dialog>', "", html, flags=re.S)


def test_cancel_is_a_button_opening_a_confirm_dialog(client, login, place):
    order = place(1)
    login("support")
    html = body(client.get(f"/console/orders/{order.id}"))
    assert re.search(
        r'<button[^>]*data-dialog-open="cancel-dialog"[^>]*>Cancel order…</button>', html
    )
    dialog = re.search(r'<dialog id="cancel-dialog"[^>]*>(.*?)</dialog>', html, flags=re.S)
    assert dialog and " open" not in dialog.group(0).split(">", 1)[0]
    assert "Keep order" in dialog.group(1) and 'name="reason"' in dialog.group(1)
    assert "stock becomes available again" in dialog.group(1)
    assert 'name="reason"' not in outside_dialog(html)  # no form outside the confirm step


def test_a_cancel_without_reason_is_refused_and_the_dialog_shows_why(client, login, place):
    order = place(1)
    login("support")
    response = client.post(f"/console/orders/{order.id}/cancel", data={"reason": "  "})
    assert response.status_code == 422
    dialog = re.search(r'<dialog id="cancel-dialog"[^>]*>', body(response)).group(0)
    assert " open" in dialog
    assert "Say why the order is cancelled." in body(response)
    assert db.session.get(Order, order.id).status == "open"


def test_no_cancel_button_for_roles_or_orders_that_cannot_cancel(client, login, checkout_shop):
    shipped = ship(place_paid_order(checkout_shop, small=1))
    login("support")
    html = body(client.get(f"/console/orders/{shipped.id}"))
    assert "data-dialog-open" not in html and "cancel-dialog" not in html
    response = client.post(f"/console/orders/{shipped.id}/cancel", data={"reason": "Too late"})
    assert (
        response.status_code in (409, 422)
        and db.session.get(Order, shipped.id).status != "cancelled"
    )


def test_warehouse_sees_fulfil_items_at_the_top(client, login, place):
    order = place(1)
    login("warehouse")
    html = body(client.get(f"/console/orders/{order.id}"))
    actions = re.search(
        r'<div class="actions">(.*?)</div>', html.split("<h1>Order", 1)[1], flags=re.S
    )
    assert actions and 'href="#fulfillment-title">Fulfil items</a>' in actions.group(1)
    assert 'id="fulfillment-title"' in html and 'class="pick-form"' in html
    assert "data-dialog-open" not in html  # warehouse cannot cancel


def test_no_fulfil_items_when_nothing_waits_or_for_support(client, login, checkout_shop, place):
    shipped = ship(place_paid_order(checkout_shop, small=1))
    login("warehouse")
    assert "Fulfil items" not in body(client.get(f"/console/orders/{shipped.id}"))
    client.post("/console/logout")
    login("support")
    assert "Fulfil items" not in body(client.get(f"/console/orders/{place(1).id}"))
