"""The flash sale over real HTTP: 200 shoppers, one unit each in their carts, 50 units in stock,
all checking out at once against gunicorn on PostgreSQL and Redis.

Every shopper is its own browser (cookie jar, CSRF token) and walks the storefront's form
contract: POST /checkout -> information -> shipping -> place. Exactly 50 get an order (and one
captured payment each), the other 150 a clean 409 "sold out", nobody a 5xx; afterwards the
counters, the reservation and allocation rows and the ledger agree. Assertions are about
counts, never timing.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench._server import (
    ERROR_5XX,
    ERROR_OTHER,
    ORDER,
    SOLD_OUT_ANSWER,
    Journey,
    Shopper,
    check_out,
    run_barrier,
    stock_report,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]  # the server caches in Redis

SHOPPERS = 200
UNITS = 50


LIVE_SHOP = {"units": UNITS, "workers": 3, "threads": 8}  # see conftest.live_shop


def test_flash_sale_sells_exactly_the_stock(server, shop):
    shoppers = [Shopper(server.url) for _ in range(SHOPPERS)]

    def fill_cart(shopper: Shopper) -> None:
        shopper.open()
        shopper.add_to_cart(shop.variant_id, 1)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(fill_cart, shoppers))  # re-raises the first failure

    def race(numbered: tuple[int, Shopper], barrier) -> Journey:
        n, shopper = numbered
        return check_out(shopper, email=f"shopper{n}@example.com", before=barrier)

    journeys = run_barrier(list(enumerate(shoppers)), race)
    for shopper in shoppers:
        shopper.close()

    crashed = [repr(j) for j in journeys if isinstance(j, BaseException)]
    assert crashed == []
    outcomes = Counter(j.outcome for j in journeys)
    failures = [j.failure.describe() for j in journeys if j.outcome in (ERROR_5XX, ERROR_OTHER)]
    assert failures == [], f"{outcomes}\n{failures[:5]}\n{server.log_tail()}"
    assert server.tracebacks() == []
    assert outcomes == {ORDER: UNITS, SOLD_OUT_ANSWER: SHOPPERS - UNITS}

    confirmations = {j.confirmation for j in journeys if j.outcome == ORDER}
    assert len(confirmations) == UNITS  # a page of its own for each order

    report = stock_report(shop.variant_id)
    assert report.orders == UNITS
    assert report.units_ordered == UNITS
    assert report.captured == UNITS
    assert report.payments == UNITS  # no stray authorization (nobody paid for nothing)
    assert (report.on_hand, report.allocated, report.reserved, report.available) == (
        UNITS,
        UNITS,
        0,
        0,
    )
    assert report.negative_levels == 0
    assert report.active_reservations == 0
    assert report.ledger_mismatches == []
    assert report.counter_mismatches == []
