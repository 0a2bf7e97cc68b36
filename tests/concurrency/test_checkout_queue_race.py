"""The checkout line under a crowd, over real HTTP: 40 shoppers for 12 units with a capacity of
4 in checkout, against gunicorn (2 processes x 6 threads) on PostgreSQL and Redis.

Every shopper walks the storefront as a browser without script does (bench/_server.py: the
waiting page is asked again until the turn comes or "sold out"). Two witnesses watch the whole
race: the line's own count in Redis and the database's live checkouts; neither ever exceeds the
capacity. Exactly 12 orders, everyone else a clean "sold out" (most of them told while
waiting, without a checkout), no 5xx, and the stock ledger agrees. Counts, never timings.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from bench._server import (
    ERROR_5XX,
    ERROR_OTHER,
    ORDER,
    SOLD_OUT_ANSWER,
    LiveServer,
    Shopper,
    build_flash_shop,
    check_out,
    run_barrier,
    stock_report,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CAPACITY, SHOPPERS, UNITS = 4, 40, 12


class Witness(threading.Thread):
    """Samples how many shoppers are in checkout, as the line counts them (Redis) and as the
    database holds them (open or placing checkouts), until stopped; keeps the highest."""

    def __init__(self, redis_url: str, database_url: str) -> None:
        super().__init__(daemon=True)
        self.redis = redis.Redis.from_url(redis_url)
        self.engine = create_engine(database_url, pool_size=1)
        self.stopped = threading.Event()
        self.most_in_line_count = 0
        self.most_live_checkouts = 0
        self.samples = 0

    def run(self) -> None:
        live = text("SELECT count(*) FROM checkout WHERE status IN ('open', 'placing')")
        with self.engine.connect() as conn:
            while not self.stopped.is_set():
                inside = self.redis.zcard("crowd:in")
                checkouts = conn.execute(live).scalar_one()
                conn.rollback()
                self.most_in_line_count = max(self.most_in_line_count, inside)
                self.most_live_checkouts = max(self.most_live_checkouts, checkouts)
                self.samples += 1
                self.stopped.wait(0.002)

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)
        self.redis.close()
        self.engine.dispose()


def test_more_shoppers_than_the_capacity_for_limited_units(pg_app, pg_url, redis_url, tmp_path):
    shop = build_flash_shop(units=UNITS)
    live = LiveServer(
        database_url=pg_url,
        redis_url=redis_url,
        instance=tmp_path / "server",
        workers=2,
        threads=6,
        env={
            "CHECKOUT_QUEUE_CAPACITY": str(CAPACITY),
            "CHECKOUT_QUEUE_POLL_MS": "100",  # a quick line, so the test stays short
            "CHECKOUT_QUEUE_POLL_MAX_MS": "300",
        },
    )
    with live:
        shoppers = [Shopper(live.url, timeout=60) for _ in range(SHOPPERS)]

        def fill_cart(shopper: Shopper) -> None:
            shopper.open()
            shopper.add_to_cart(shop.variant_id, 1)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(fill_cart, shoppers))

        witness = Witness(redis_url, pg_url)
        witness.start()

        def race(numbered: tuple[int, Shopper], barrier: Any) -> Any:
            n, shopper = numbered
            return check_out(shopper, email=f"shopper{n}@example.com", before=barrier)

        try:
            journeys = run_barrier(list(enumerate(shoppers)), race, timeout=120)
        finally:
            witness.stop()
            for shopper in shoppers:
                shopper.close()
        tracebacks = live.tracebacks()
        log = live.log_tail()

    crashed = [repr(j) for j in journeys if isinstance(j, BaseException)]
    assert crashed == []
    outcomes = Counter(j.outcome for j in journeys)
    failures = [j.failure.describe() for j in journeys if j.outcome in (ERROR_5XX, ERROR_OTHER)]
    assert failures == [], f"{outcomes}\n{failures[:5]}\n{log}"
    assert tracebacks == []
    assert outcomes == {ORDER: UNITS, SOLD_OUT_ANSWER: SHOPPERS - UNITS}

    # Never more than the capacity in checkout at once, by either witness.
    assert witness.samples > 10
    assert 0 < witness.most_in_line_count <= CAPACITY
    assert witness.most_live_checkouts <= CAPACITY
    # The line was used: shoppers waited, and were told "sold out" before paying.
    waited = [j for j in journeys if j.queue_wait_ms is not None]
    assert len(waited) >= SHOPPERS - CAPACITY - UNITS
    told_before_paying = [
        j for j in journeys if j.outcome == SOLD_OUT_ANSWER and j.ms("place") is None
    ]
    assert len(told_before_paying) == SHOPPERS - UNITS  # nobody got as far as paying for nothing

    report = stock_report(shop.variant_id)
    assert (report.orders, report.units_ordered, report.captured) == (UNITS, UNITS, UNITS)
    assert (report.on_hand, report.allocated, report.reserved, report.available) == (
        UNITS,
        UNITS,
        0,
        0,
    )
    assert report.negative_levels == 0 and report.active_reservations == 0
    assert report.ledger_mismatches == [] and report.counter_mismatches == []
