"""The order confirmation: order.placed -> outbox -> Celery task (eager) -> .eml file or SMTP."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from commerce.extensions import db
from commerce.money import format_money
from commerce.orders.emails import (
    CONFIRMATION_FAILED,
    CONFIRMATION_SENT,
    render_order_confirmation,
    shop_url,
)
from commerce.orders.models import Order, OrderEvent
from commerce.orders.services import ORDER_PLACED, order_status_token
from commerce.orders.tasks import send_order_confirmation
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.pricing import pipeline
from commerce.pricing.models import LINE, ORDER, Adjustment
from tests.commerce.conftest import SMTP_PASSWORD, SMTP_USER, free_port
from tests.conftest import SHOP_URL, SHOPPER

MINUS = "\u2212"  # the templates' minus sign, as the pricing explanations use


def read_eml(path: Path) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def timeline(order: Order, kind: str) -> list[OrderEvent]:
    return list(
        db.session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.kind == kind)
        )
    )


def placed_event(order: Order) -> OutboxEvent:
    return db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == ORDER_PLACED)
    ).one_or_none() or pytest.fail(f"no {ORDER_PLACED} event for {order.name}")


def test_dispatching_order_placed_writes_one_confirmation(app, mail_dir, place):
    order = place()
    assert not list(mail_dir.glob("*.eml"))  # nothing is sent before the outbox runs
    dispatch_pending()
    (path,) = mail_dir.glob("*.eml")
    assert path.name.endswith(f"-order-{order.number}-confirmation-{path.stem[-10:]}.eml")

    message = read_eml(path)
    assert message["To"] == SHOPPER
    assert message["From"] == app.config["MAIL_FROM"]
    assert message["Subject"] == f"Order #{order.number} confirmed — {app.config['SHOP_NAME']}"
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"].startswith(f"<order-{order.number}-confirmation-")

    line = order.lines[0]
    status_url = f"{SHOP_URL}/orders/{order_status_token(order)}"
    total = format_money(order.total, order.currency)
    assert total == "$58.98"  # 2 x $25.00 + $5.00 shipping + CA tax $3.98
    text, html = parts(message)
    for body in (text, html):
        assert f"#{order.number}" in body
        assert line.sku in body and line.title in body
        assert total in body
        assert "$25.00" in body and "$50.00" in body and "$3.98" in body
        assert status_url in body
        assert "Standard" in body and "CA sales tax (7.25%)" in body
        assert "1 Market Street" in body and "San Francisco, CA 94105" in body
    assert f'href="{status_url}"' in html
    assert "Includes" not in text  # US prices exclude tax: the tax is added

    (entry,) = timeline(order, CONFIRMATION_SENT)
    assert entry.data["to"] == SHOPPER and entry.data["file"] == path.name
    assert entry.data["message_id"] == message["Message-ID"]
    assert placed_event(order).dispatched_at is not None


def test_the_same_event_delivered_twice_sends_once(app, mail_dir, place):
    order = place()
    dispatch_pending()
    event = placed_event(order)
    first = list(mail_dir.glob("*.eml"))
    event.dispatched_at = None  # as after a worker crashed before marking it delivered
    db.session.commit()
    assert dispatch_pending() >= 1
    assert placed_event(order).dispatched_at is not None
    assert list(mail_dir.glob("*.eml")) == first
    assert len(timeline(order, CONFIRMATION_SENT)) == 1
    assert send_order_confirmation.delay(order.id).get() is False


def test_each_order_gets_its_own_confirmation(mail_dir, place):
    orders = [place(1), place(1, email="grace@example.com")]
    dispatch_pending()
    files = sorted(mail_dir.glob("*.eml"))
    assert len(files) == 2
    assert sorted(read_eml(p)["To"] for p in files) == sorted(o.email for o in orders)


def test_discounts_are_listed_once_each(app, mail_dir, place, checkout_shop, monkeypatch):
    def promotions(view):
        return [
            Adjustment(LINE, 300, "Tee week", variant_id=checkout_shop.small),
            Adjustment(ORDER, 500, "WELCOME5"),
        ]

    monkeypatch.setattr(pipeline, "ADJUSTMENT_PRODUCERS", [promotions])
    order = place()
    assert order.discount_total == 800
    text, html = parts(render_order_confirmation(order))
    assert f"Tee week: {MINUS}$3.00" in text and f"WELCOME5: {MINUS}$5.00" in text
    for body in (text, html):
        assert body.count("WELCOME5") == 1
        assert f"{MINUS}$5.00" in body and f"{MINUS}$3.00" in body
        assert format_money(order.total, order.currency) in body


def test_tax_included_in_prices_is_shown_as_included(app, mail_dir, place, monkeypatch):
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", True)
    order = place()
    assert order.prices_include_tax
    text, html = parts(render_order_confirmation(order))
    tax = format_money(order.tax_total, order.currency)
    assert f"Includes CA sales tax (7.25%): {tax}" in text
    assert "Includes CA sales tax (7.25%)" in html


def test_links_use_the_url_map_when_the_endpoint_exists_and_the_path_otherwise(app, monkeypatch):
    monkeypatch.setitem(app.config, "SHOP_URL", "https://example.com/shop/")
    with app.app_context():
        assert shop_url("storefront.not_there", fallback="/orders/abc") == (
            "https://example.com/shop/orders/abc"
        )
        assert shop_url("static", fallback="/unused", filename="css/x.css") == (
            "https://example.com/shop/static/css/x.css"
        )


# -- SMTP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "starttls", "smtps"])
def test_smtp_mode_sends_to_the_server(app, mail_dir, place, smtp_server, monkeypatch, mode):
    sink, port = smtp_server(mode)
    scheme = "smtps" if mode == "smtps" else "smtp"
    credentials = "" if mode == "plain" else f"{SMTP_USER}:s3cret%3Awith%40symbols@"
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", f"{scheme}://{credentials}127.0.0.1:{port}")
    assert SMTP_PASSWORD == "s3cret:with@symbols"  # the URL carries it percent-encoded
    order = place()
    dispatch_pending()

    (received,) = sink.received
    assert received.recipients == [SHOPPER]
    assert received.message["To"] == SHOPPER
    assert received.message["Subject"].startswith(f"Order #{order.number} confirmed")
    text, _ = parts(received.message)
    assert f"{SHOP_URL}/orders/{order_status_token(order)}" in text
    assert sink.tls == [mode != "plain"]
    assert sink.logins == ([] if mode == "plain" else [SMTP_USER])
    assert not mail_dir.exists()  # nothing written to disk in SMTP mode
    (entry,) = timeline(order, CONFIRMATION_SENT)
    assert "file" not in entry.data


def test_a_server_that_is_down_leaves_the_event_pending_for_the_next_dispatch(
    app, mail_dir, place, smtp_server, monkeypatch
):
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    order = place()
    dispatch_pending()
    event = placed_event(order)
    assert event.dispatched_at is None and "Connection" in (event.last_error or "")
    assert event.next_attempt_at is not None and event.next_attempt_at > event.created_at
    assert event.locked_by is None  # the lease ended with the attempt
    assert timeline(order, CONFIRMATION_SENT) == []
    assert dispatch_pending() == 0  # backing off: not tried again before its time

    sink, port = smtp_server("plain")
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    dispatch_pending(retry_now=True)  # `flask outbox dispatch --retry-now`
    assert [r.recipients for r in sink.received] == [[SHOPPER]]
    assert placed_event(order).dispatched_at is not None
    assert len(timeline(order, CONFIRMATION_SENT)) == 1


def test_a_refused_address_is_noted_on_the_timeline_and_not_retried(
    app, mail_dir, place, smtp_server, monkeypatch
):
    sink, port = smtp_server("plain", refuse={"nobody@example.com"})
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    order = place(email="nobody@example.com")
    dispatch_pending()
    assert sink.received == []
    (entry,) = timeline(order, CONFIRMATION_FAILED)
    assert "550" in entry.message
    assert placed_event(order).dispatched_at is not None  # delivered: nothing left to try
    assert send_order_confirmation.delay(order.id).get() is False
