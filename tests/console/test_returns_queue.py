"""The returns queue (Console → Orders → Returns) through HTTP: open returns across orders,
oldest first, status filters, keyset paging, the empty state and who may see it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from commerce.db import utcnow
from commerce.extensions import db
from commerce.orders.returns import cancel_return, open_return
from tests.commerce.orders.factories import place_paid_order, ship
from tests.conftest import htmx_headers


@pytest.fixture
def returns(checkout_shop):
    """Three open returns on three shipped orders (opened 3, 2 and 1 days ago) and one
    cancelled: RMA names in the order they were opened."""
    made = []
    for days in (3, 2, 1, 0):
        order = ship(place_paid_order(checkout_shop, small=1, email=f"back{days}@example.com"))
        rma = open_return(order, lines={order.lines[0].id: 1}, reason=f"Reason {days}")
        rma.created_at = utcnow() - timedelta(days=days)
        db.session.commit()
        made.append(rma)
    cancel_return(made[-1], by=None, reason="Opened by mistake")
    return made


def rma_names(body: str) -> list[str]:
    return re.findall(r">(RMA-\d+)</a>", body)


def test_open_returns_oldest_first_with_their_orders(client, login, returns):
    login("support")
    response = client.get("/console/returns")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert rma_names(body) == [r.name for r in returns[:3]]
    assert f"/console/orders/{returns[0].order_id}#returns-title" in body
    assert "Reason 3" in body and "back3@example.com" in body
    assert "3 returns" in body


def test_status_filters(client, login, returns):
    login("support")
    cancelled = client.get("/console/returns?status=cancelled").get_data(as_text=True)
    assert rma_names(cancelled) == [returns[3].name]
    everything = client.get("/console/returns?status=all").get_data(as_text=True)
    assert rma_names(everything) == [r.name for r in reversed(returns)]  # newest first
    received = client.get("/console/returns?status=received").get_data(as_text=True)
    assert rma_names(received) == [] and "No received returns" in received


def test_an_unknown_status_says_so(client, login, returns):
    login("support")
    response = client.get("/console/returns?status=lost")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "no return status" in body and rma_names(body) == [r.name for r in returns[:3]]


def test_keyset_pages_forward_and_back(app, client, login, returns, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    login("support")
    first = client.get("/console/returns").get_data(as_text=True)
    assert rma_names(first) == [returns[0].name, returns[1].name]
    after = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(after, headers=htmx_headers()).get_data(as_text=True)
    assert 'id="list"' in second and "<html" not in second  # the list alone, for htmx
    assert rma_names(second) == [returns[2].name]
    assert 'rel="next"' not in second
    before = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert rma_names(client.get(before).get_data(as_text=True)) == rma_names(first)


def test_empty_queue(client, login):
    login("support")
    body = client.get("/console/returns").get_data(as_text=True)
    assert "No open returns" in body


@pytest.mark.parametrize(
    ("role", "code"), [("support", 200), ("warehouse", 200), ("merchandiser", 403)]
)
def test_who_sees_the_queue(client, login, role, code):
    login(role)
    assert client.get("/console/returns").status_code == code


def test_linked_from_the_orders_navigation(client, login):
    login("support")
    body = client.get("/console/orders").get_data(as_text=True)
    assert 'href="/console/returns"' in body
