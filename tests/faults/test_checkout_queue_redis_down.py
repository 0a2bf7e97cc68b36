"""The checkout line when its Redis stops (issue 12's rule: the shop keeps selling): shoppers
are let in and queued from process memory with a log line, never a 500; what must reach every
process (a capacity change, the outbox's sold-out corrections) is refused or retried, and
Redis is used again once it is back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

import commerce.crowd as crowd
from commerce.extensions import db
from commerce.outbox import deliver_pending
from tests.conftest import base_config, require_service, waiting_address
from tests.faults.test_outages import RedisServer
from tests.storefront.test_cart_checkout import CARD, add, information

pytestmark = [pytest.mark.faults, pytest.mark.redis]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    require_service("Redis", "TEST_REDIS_URL")  # the Redis leg of the suite runs here
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def line_app(redis_server: RedisServer, tmp_path: Any) -> Iterator[Flask]:
    """The app on its own SQLite file with the line in the test's own Redis, capacity 1."""
    from tests.conftest import RequestScopedClient
    from wsgi import create_app

    application = create_app(
        base_config(tmp_path, REDIS_URL=redis_server.url, CHECKOUT_QUEUE_CAPACITY=1)
    )
    application.test_client_class = RequestScopedClient
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()
        db.engine.dispose()


def shopper(app: Flask, variant_id: int) -> Any:
    browser = app.test_client()
    assert add(browser, variant_id).status_code == 303
    return browser


def test_redis_stopped_the_line_goes_on_from_memory(
    line_app: Flask,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    fault_report: Any,
) -> None:
    from tests.conftest import build_checkout_shop

    monkeypatch.setattr(crowd, "REST", 0.2)  # ask Redis again soon after an error
    shop = build_checkout_shop(stock=10)
    probe = redis.Redis.from_url(redis_server.url)
    browsers = [shopper(line_app, shop.small) for _ in range(5)]
    first, waiting, during, during_too, after = browsers

    # Redis up: the line lives there.
    entered = first.post("/checkout")
    assert entered.location.endswith("/information")
    poll_url = waiting_address(waiting.post("/checkout"))
    assert probe.zcard("crowd:in") == 1 and probe.zcard("crowd:line") == 1

    redis_server.kill()
    caplog.set_level(logging.WARNING, logger="commerce.crowd")
    statuses = []
    # This process's memory stands in: one let in (its capacity), the next queued.
    in_memory = during.post("/checkout")
    statuses.append(in_memory.status_code)
    assert in_memory.location.endswith("/information")
    queued = during_too.post("/checkout")
    statuses.append(queued.status_code)
    assert waiting_address(queued).startswith("/checkout/queue?ticket=")
    lapsed = waiting.get(poll_url)  # its place was in Redis: it lapsed, with a way back
    statuses.append(lapsed.status_code)
    assert lapsed.status_code == 410
    key = entered.location.split("/")[2]
    assert information(first, key).status_code == 303
    first.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
    placed = first.post(f"/checkout/{key}/place", data=CARD)  # frees its slot: no error
    statuses.append(placed.status_code)
    assert placed.status_code == 303 and "/orders/" in placed.location
    assert "checkout line: Redis unreachable" in caplog.text

    # What must reach every process is refused (the console) or retried (the outbox).
    from commerce.checkout.queue import set_capacity
    from commerce.crowd import LineStoreUnavailable

    with pytest.raises(LineStoreUnavailable):
        set_capacity(5, by=None)
    report = deliver_pending(retry_now=True)
    failed = [f for f in report.failed if "sold_out" in f.error]
    assert failed, report  # the stock.changed consumer waits for Redis

    # Redis back: used again, and the outbox's corrections go through.
    redis_server.start()
    import time

    time.sleep(0.3)  # past REST
    report = deliver_pending(retry_now=True)
    assert not [f for f in report.failed if "sold_out" in f.error], report
    back = after.post("/checkout")
    statuses.append(back.status_code)
    assert "checkout line: Redis answers again" in caplog.text
    probe = redis.Redis.from_url(redis_server.url)
    assert probe.zcard("crowd:in") + probe.zcard("crowd:line") == 1  # after's turn, in Redis
    assert all(status < 500 for status in statuses), statuses
    fault_report(
        requests=len(statuses),
        errors_5xx=sum(status >= 500 for status in statuses),
        let_in_from_memory=1,
        outbox_retried=len(failed),
    )
