"""Placing the same order five times at once, over real HTTP against gunicorn on PostgreSQL:
a double click, a retry and two more tabs of one browser end in one order and one charge.

Every answer is a 303 to the one confirmation page or a 409 "already being placed"; never a
5xx, never a second payment. A repeat after the fact answers the same confirmation.

The double click one step earlier (POST /checkout five times at once for one cart) holds the
cart's units once: start_checkout locks the cart row.
"""

from __future__ import annotations

import pytest

from bench._server import (
    Answer,
    Shopper,
    run_barrier,
    stock_report,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]  # the server caches in Redis

REQUESTS = 5


LIVE_SHOP = {"units": 3, "workers": 2, "threads": 4}  # see conftest.live_shop


def test_same_place_request_five_times_at_once_makes_one_order(server, shop):
    shopper = Shopper(server.url)
    shopper.open()
    shopper.add_to_cart(shop.variant_id, 1)
    answer, key = shopper.start_checkout()
    assert key, answer.describe()
    assert shopper.information(key, email="ada@example.com").status == 303
    assert shopper.shipping(key).status == 303

    def place_together(tab: Shopper, barrier) -> Answer:
        barrier.wait()
        return tab.place(key)

    tabs = [shopper.clone() for _ in range(REQUESTS)]
    answers = run_barrier(tabs, place_together)
    for tab in tabs:
        tab.close()

    crashed = [repr(a) for a in answers if isinstance(a, BaseException)]
    assert crashed == []
    assert [a.describe() for a in answers if a.status >= 500 or a.status == 0] == [], (
        server.log_tail()
    )
    assert server.tracebacks() == []
    placed = [a for a in answers if a.status == 303]
    busy = [a for a in answers if a.already_placing]
    assert len(placed) + len(busy) == REQUESTS, [a.describe() for a in answers]
    assert placed, "at least the request that won the claim places the order"
    confirmations = {a.location for a in placed}
    assert len(confirmations) == 1
    (confirmation,) = confirmations
    assert confirmation.startswith("/orders/")

    again = shopper.place(key)  # a retry after the fact: the same order
    assert (again.status, again.location) == (303, confirmation)
    assert shopper.get(confirmation).status == 200
    shopper.close()

    report = stock_report(shop.variant_id)
    assert report.orders == 1
    assert report.payments == 1
    assert report.captured == 1
    assert (report.allocated, report.reserved, report.active_reservations) == (1, 0, 0)
    assert report.ledger_mismatches == []
    assert report.counter_mismatches == []


def test_double_click_on_checkout_holds_the_cart_once(server, shop):
    shopper = Shopper(server.url)
    shopper.open()
    shopper.add_to_cart(shop.variant_id, 1)

    def start_together(tab: Shopper, barrier) -> tuple[Answer, str | None]:
        barrier.wait()
        return tab.start_checkout()

    tabs = [shopper.clone() for _ in range(REQUESTS)]
    started = run_barrier(tabs, start_together)
    for tab in tabs:
        tab.close()

    assert [a.describe() for a, _key in started if a.status != 303] == []
    report = stock_report(shop.variant_id)
    assert (report.reserved, report.active_reservations) == (1, 1)
    assert len({key for _answer, key in started}) == 1
