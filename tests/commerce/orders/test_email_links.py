"""Emailed order-status links follow how the shop is reached (issue 16: 9): with SHOP_URL
unset, the address of the request that placed the order (host and port), kept with the email's
event; outside any request, the port this process serves on; SHOP_URL, when set, wins."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from commerce.orders.services import order_status_token
from commerce.outbox import dispatch_pending


def status_links(mail_dir) -> list[str]:
    (path,) = mail_dir.glob("*.eml")
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    text = message.get_body(preferencelist=("plain",)).get_content()
    return [word for word in text.split() if "/orders/" in word]


@pytest.fixture
def unset_shop_url(app, mail_dir, monkeypatch):
    monkeypatch.setitem(app.config, "SHOP_URL", None)
    monkeypatch.setitem(app.config, "SHOP_URL_DEFAULT", "http://127.0.0.1:5000")
    return mail_dir


def test_the_link_follows_the_address_the_order_was_placed_at(app, unset_shop_url, place):
    with app.test_request_context("/checkout", base_url="http://shop.local:8123"):
        order = place()
    dispatch_pending()
    expected = f"http://shop.local:8123/orders/{order_status_token(order)}"
    assert status_links(unset_shop_url) == [expected]


def test_outside_a_request_the_default_follows_the_port(app, unset_shop_url, place):
    order = place()
    dispatch_pending()
    assert status_links(unset_shop_url) == [
        f"http://127.0.0.1:5000/orders/{order_status_token(order)}"
    ]


def test_the_default_port_comes_from_port(monkeypatch):
    from commerce.config import load_config

    monkeypatch.setenv("PORT", "8000")
    monkeypatch.delenv("SHOP_URL", raising=False)
    config = load_config()
    assert config["SHOP_URL"] is None and config["SHOP_URL_DEFAULT"] == "http://127.0.0.1:8000"


def test_a_set_shop_url_wins(app, mail_dir, place):
    with app.test_request_context("/checkout", base_url="http://shop.local:8123"):
        order = place()
    dispatch_pending()
    assert status_links(mail_dir) == [f"https://shop.example/orders/{order_status_token(order)}"]
