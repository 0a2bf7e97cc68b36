"""kill -9 of the Celery worker (`make worker`) while it posts a webhook: the receiver has the
request and is still answering when the worker dies. A new worker takes the delivery again
once its lease is over (the beat's task) and sends it with the same webhook-id and body, so
the receiver can tell the repeat; the delivery ends succeeded after two tries.

The kill lands at a known point without sleeping for it: the receiver holds its answer until
the test has killed the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from commerce.db import utcnow
from commerce.extensions import db
from commerce.webhooks import delivery
from commerce.webhooks.models import SUCCEEDED, WebhookDelivery
from tests.celery_processes import MakeTarget, private_redis, production_app, wait_for, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.faults]

SETTINGS: dict[str, Any] = {"WEBHOOKS_ALLOW_PRIVATE": True, "OUTBOX_LEASE_SECONDS": 3}


class HoldingReceiver:
    """Records every request; holds the answer to the first until `release` is set."""

    def __init__(self, httpserver: Any) -> None:
        self.requests: list[tuple[dict[str, str], str]] = []
        self.got_first = threading.Event()
        self.release = threading.Event()
        httpserver.expect_request("/hook", method="POST").respond_with_handler(self.answer)
        self.url = httpserver.url_for("/hook")

    def answer(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data(as_text=True)))
        if len(self.requests) == 1:
            self.got_first.set()
            self.release.wait(60)
        return Response("ok", status=200)


@pytest.fixture
def broker() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.fixture
def shop(pg_url: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with production_app(pg_url, broker, tmp_path, monkeypatch, **SETTINGS) as app:
        yield app


@pytest.fixture
def workers(pg_url: str, broker: str, tmp_path: Path) -> Iterator[Callable[[], MakeTarget]]:
    started: list[MakeTarget] = []

    def start() -> MakeTarget:
        env = worker_env(database_url=pg_url, broker_url=broker, instance=tmp_path, **SETTINGS)
        worker = MakeTarget("worker", env, tmp_path / f"worker{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _delivery() -> WebhookDelivery:
    db.session.rollback()  # a fresh read of what the workers committed
    return db.session.scalars(select(WebhookDelivery)).one()


def test_worker_killed_while_posting_sends_again_with_the_same_id(shop, workers, httpserver):
    from commerce.catalog.services import create_product
    from commerce.outbox import dispatch_outbox
    from commerce.webhooks.services import create_endpoint
    from commerce.webhooks.tasks import send_due_task

    receiver = HoldingReceiver(httpserver)
    endpoint = create_endpoint(url=receiver.url, topics=["product.created"], by=None)
    secret = endpoint.secret
    worker = workers()
    product = create_product(title="Canoe", price=99900, by=None)
    worker.wait_for_output(" ready.")

    def posting() -> bool:
        if receiver.got_first.is_set():
            return True
        dispatch_outbox.delay()  # what beat sends every few seconds
        return False

    wait_for(posting, timeout=90, what="the worker to post the webhook", every=1.0)
    worker.kill()
    receiver.release.set()  # the answer goes to a dead socket: nobody records it
    first = _delivery()
    assert first.status != SUCCEEDED and first.attempts == 1

    again = workers()
    again.wait_for_output(" ready.")
    after_lease = (utcnow() + delivery.LEASE).isoformat()  # the beat's task, later on

    def delivered() -> WebhookDelivery | None:
        row = _delivery()
        if row.status == SUCCEEDED:
            return row
        send_due_task.delay(after_lease)
        return None

    row = wait_for(delivered, timeout=60, what="the delivery to be sent again", every=1.0)
    assert row.attempts == 2
    assert len(receiver.requests) == 2
    (headers1, body1), (headers2, body2) = receiver.requests
    assert headers1["Webhook-Id"] == headers2["Webhook-Id"] == row.message_id
    assert body1 == body2
    event = Webhook(secret).verify(body2, headers2)
    assert event["type"] == "product.created" and event["data"]["product"]["id"] == product.id
