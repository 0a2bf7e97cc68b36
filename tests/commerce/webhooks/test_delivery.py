"""Outbound webhooks against a real HTTP receiver (pytest-httpserver): signed per Standard
Webhooks (verified with the reference library), retried with backoff on a fake clock,
disabled after a failure streak, refused on private addresses, and taken again with the same
webhook-id after a sender died mid-try."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from commerce.audit import AuditEntry
from commerce.db import utcnow
from commerce.extensions import db
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.webhooks import delivery, transport
from commerce.webhooks.models import FAILED, PENDING, SUCCEEDED, WebhookDelivery
from commerce.webhooks.services import create_endpoint, rotate_secret
from commerce.webhooks.tasks import send_due_task


class Receiver:
    """Answers with the statuses given, in order (the last one repeats); records requests."""

    def __init__(self, httpserver: Any, *statuses: int, delay: float = 0.0) -> None:
        self.statuses = list(statuses) or [200]
        self.delay = delay
        self.requests: list[tuple[dict[str, str], str]] = []
        httpserver.expect_request("/hook", method="POST").respond_with_handler(self.answer)
        self.url = httpserver.url_for("/hook")

    def answer(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data(as_text=True)))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if self.delay:
            time.sleep(self.delay)
        return Response("ok" if status < 300 else "boom " * 500, status=status)


def _endpoint(url: str, topics: tuple[str, ...] = ("product.created",)) -> Any:
    return create_endpoint(url=url, description="ERP", topics=list(topics), by=None)


def _deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _pending_delivery(endpoint: Any) -> WebhookDelivery:
    """A delivery recorded from a product.changed(created) event, not yet tried."""
    event = OutboxEvent(
        topic="product.changed", payload={"product_id": 0, "created": True}, completed=[]
    )
    db.session.add(event)
    db.session.flush()
    row = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event.id,
        topic="product.created",
        message_id=f"msg_test{event.id}",
        body=json.dumps({"type": "product.created", "version": 1, "data": {}}),
        status=PENDING,
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_an_event_is_delivered_signed_per_the_spec(httpserver: Any, make_product: Any) -> None:
    receiver = Receiver(httpserver, 200)
    endpoint = _endpoint(receiver.url, ("product.created", "order.created"))
    other = _endpoint(receiver.url, ("order.created",))  # not subscribed: gets nothing
    product = make_product(title="Sea Kayak", price=129900)

    dispatch_pending()

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    payload = Webhook(endpoint.secret).verify(body, headers)  # the reference implementation
    assert payload["type"] == "product.created"
    assert payload["version"] == 1
    assert payload["data"]["product"]["id"] == product.id
    assert payload["data"]["product"]["variants"][0]["price"] == {
        "amount": 129900,
        "currency": product.currency,
    }
    assert headers["Webhook-Id"].startswith("msg_")
    [row] = _deliveries()
    assert (row.endpoint_id, row.status, row.attempts) == (endpoint.id, SUCCEEDED, 1)
    assert row.last_status_code == 200 and row.last_response_excerpt == "ok"
    assert row.last_response_ms is not None
    assert other.id not in {d.endpoint_id for d in _deliveries()}


def test_recording_twice_adds_no_second_delivery(httpserver: Any, make_product: Any) -> None:
    receiver = Receiver(httpserver, 200)
    _endpoint(receiver.url)
    make_product()
    event = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == "product.changed")
    ).first()
    assert delivery.record_deliveries(event) == 1
    assert delivery.record_deliveries(event) == 0  # an outbox retry after a crash


def test_500s_and_timeouts_are_retried_with_backoff_and_the_same_id(
    httpserver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(httpserver, 500, 200)
    endpoint = _endpoint(receiver.url)
    row = _pending_delivery(endpoint)
    now = utcnow()

    assert delivery.send(row.id, now=now) is False
    [row] = _deliveries()
    assert row.status == PENDING and row.attempts == 1 and row.last_status_code == 500
    assert len(row.last_response_excerpt) == transport.EXCERPT  # truncated
    wait = row.next_attempt_at - now
    assert timedelta(seconds=4) <= wait <= timedelta(seconds=6)  # 5 s, with jitter
    assert delivery.send_due(now=now + timedelta(seconds=2)) == 0  # not due yet

    # The second try times out (a slow receiver): the next wait is about 5 minutes.
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT", 0.3)
    receiver.statuses, receiver.delay = [200], 1.0
    later = now + timedelta(seconds=7)
    assert delivery.send_due(now=later) == 0
    [row] = _deliveries()
    assert row.attempts == 2 and "Timeout" in row.last_error
    assert timedelta(minutes=4) <= row.next_attempt_at - later <= timedelta(minutes=6)

    receiver.delay = 0.0  # the receiver (one thread) still finishes the slow answer first
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT", 10.0)
    assert delivery.send_due(now=later + timedelta(minutes=7)) == 1
    [row] = _deliveries()
    assert row.status == SUCCEEDED and row.attempts == 3
    ids = {headers["Webhook-Id"] for headers, _ in receiver.requests}
    assert ids == {row.message_id}  # receivers de-duplicate by it
    assert endpoint.consecutive_failures == 0


def test_the_backoff_covers_a_day_then_the_delivery_fails() -> None:
    import random

    rng = random.Random(1)
    waits = [delivery.backoff(n, rng=rng) for n in range(1, len(delivery.BACKOFF) + 1)]
    assert sum(waits, timedelta()) >= timedelta(hours=24)
    assert delivery.backoff(len(delivery.BACKOFF) + 1) is None


def test_an_endpoint_that_keeps_failing_is_disabled_and_admins_told(
    httpserver: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "WEBHOOKS_DISABLE_AFTER", 3)
    receiver = Receiver(httpserver, 500)
    endpoint = _endpoint(receiver.url)
    now = utcnow()
    for _ in range(3):
        row = _pending_delivery(endpoint)
        assert delivery.send(row.id, now=now) is False
    db.session.expire_all()
    assert endpoint.enabled is False
    assert "3 failed deliveries" in endpoint.disabled_reason
    assert db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "webhook_endpoint.disable")
    ).first()
    assert db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == delivery.ENDPOINT_DISABLED)
    ).first()
    # Its pending retries wait while it is disabled.
    assert delivery.send_due(now=now + timedelta(days=2)) == 0
    assert len(receiver.requests) == 3


def test_admins_are_emailed_when_an_endpoint_is_disabled(
    httpserver: Any, app: Any, make_staff: Any, mail_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "WEBHOOKS_DISABLE_AFTER", 1)
    admin = make_staff("admin")
    make_staff("support")
    endpoint = _endpoint(Receiver(httpserver, 500).url)
    delivery.send(_pending_delivery(endpoint).id)
    dispatch_pending()
    mails = [p.read_text() for p in mail_dir.rglob("*.eml")]
    assert len(mails) == 1
    assert admin.email in mails[0] and endpoint.url in mails[0]


def test_failing_for_a_day_disables_too(httpserver: Any) -> None:
    receiver = Receiver(httpserver, 500)
    endpoint = _endpoint(receiver.url)
    now = utcnow()
    delivery.send(_pending_delivery(endpoint).id, now=now)
    delivery.send(_pending_delivery(endpoint).id, now=now + timedelta(hours=24, seconds=1))
    db.session.expire_all()
    assert endpoint.enabled is False


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}/hook", "http://10.1.2.3/hook", "http://169.254.169.254/"]
)
def test_private_addresses_are_refused_unless_allowed(
    url: str, httpserver: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    receiver = Receiver(httpserver, 200)
    endpoint = _endpoint(url.format(port=httpserver.port))
    row = _pending_delivery(endpoint)
    assert delivery.send(row.id) is False
    [row] = _deliveries()
    assert row.status == FAILED and "private address" in row.last_error
    assert receiver.requests == []


def test_the_transport_checks_every_address() -> None:
    for address in ("127.0.0.1", "10.0.0.8", "192.168.1.1", "169.254.169.254", "0.0.0.0", "::1"):
        assert transport.forbidden(address), address
    assert not transport.forbidden("93.184.216.34")
    with pytest.raises(transport.Refused):
        transport.resolve("http://localhost/hook", allow_private=False)
    with pytest.raises(transport.Refused):
        transport.resolve("ftp://example.com/", allow_private=False)


def test_a_claim_whose_sender_died_is_sent_again_with_the_same_id(httpserver: Any) -> None:
    receiver = Receiver(httpserver, 200)
    endpoint = _endpoint(receiver.url)
    row = _pending_delivery(endpoint)
    now = utcnow()
    # A sender claimed it (lease and try counted) and died before posting or recording.
    row.locked_until, row.attempts = now + delivery.LEASE, 1
    db.session.commit()

    assert delivery.send_due(now=now) == 0  # its lease still holds
    # The beat's task, on a clock past the lease.
    assert send_due_task.delay((now + delivery.LEASE + timedelta(seconds=1)).isoformat()).get() == 1
    [row] = _deliveries()
    assert row.status == SUCCEEDED and row.attempts == 2
    [(headers, _)] = receiver.requests
    assert headers["Webhook-Id"] == row.message_id


def test_after_a_rotation_both_secrets_sign_for_a_day(httpserver: Any) -> None:
    receiver = Receiver(httpserver, 200)
    endpoint = _endpoint(receiver.url)
    old = endpoint.secret
    rotate_secret(endpoint, by=None)
    assert endpoint.secret != old
    delivery.send(_pending_delivery(endpoint).id)
    [(headers, body)] = receiver.requests
    assert len(headers["Webhook-Signature"].split(" ")) == 2
    Webhook(old).verify(body, headers, json_parse=False)
    Webhook(endpoint.secret).verify(body, headers, json_parse=False)

    receiver.requests.clear()
    delivery.send(_pending_delivery(endpoint).id, now=utcnow() + timedelta(hours=25))
    [(headers, body)] = receiver.requests
    assert len(headers["Webhook-Signature"].split(" ")) == 1
    Webhook(endpoint.secret).verify(body, headers, json_parse=False)


def test_redirects_are_not_followed(httpserver: Any) -> None:
    httpserver.expect_request("/hook").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    endpoint = _endpoint(httpserver.url_for("/hook"))
    assert delivery.send(_pending_delivery(endpoint).id) is False
    [row] = _deliveries()
    assert row.last_status_code == 302 and row.status == PENDING  # a failure, tried again
    assert [request.path for request, _ in httpserver.log] == ["/hook"]


def test_ipv4_mapped_and_other_special_addresses_are_refused() -> None:
    assert transport.forbidden("::ffff:127.0.0.1")
    assert transport.forbidden("fe80::1")
    assert transport.forbidden("fd00::1")
    assert not transport.forbidden("2606:4700:4700::1111")


def test_finished_deliveries_leave_the_log_after_30_days(httpserver: Any) -> None:
    endpoint = _endpoint(Receiver(httpserver, 200).url)
    done, waiting = _pending_delivery(endpoint), _pending_delivery(endpoint)
    delivery.send(done.id)
    later = utcnow() + delivery.KEEP + timedelta(minutes=1)
    assert delivery.purge_finished(now=later) == 1
    assert [d.id for d in _deliveries()] == [waiting.id]
