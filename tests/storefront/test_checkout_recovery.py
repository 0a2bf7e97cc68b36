"""Abandoned checkout recovery through HTTP: the email goes once (and a reminder once), never
after the shopper ordered, unsubscribed or declined where consent is required; its link
restores the cart and the order placed from it counts as recovered revenue."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from commerce import outbox
from commerce.abandoned.services import save_recovery_settings, send_due_recovery_emails
from commerce.checkout.models import Checkout
from commerce.db import utcnow
from commerce.extensions import db
from tests.conftest import SHOP_URL
from tests.storefront.test_cart_checkout import CARD, add, enter_checkout, information

LATER = timedelta(hours=2)


@pytest.fixture
def recovery_on(app, checkout_shop, mail_dir):
    save_recovery_settings(
        abandoned_after_minutes="60",
        first_email=True,
        second_email=True,
        second_after_hours="24",
        require_consent=False,
        by=None,
    )
    return mail_dir


def left_at_shipping(client, shop, email="ada@example.com"):
    assert add(client, shop.small, 2).status_code == 303
    key, _ = enter_checkout(client)
    assert information(client, key, email=email).status_code == 303
    return key


def run_worker(now):
    queued = send_due_recovery_emails(now=now)
    outbox.deliver_pending()
    return queued


def emails(folder, kind="recovery"):
    return sorted(folder.glob(f"*{kind}*.eml"))


def body(path):
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    return message, message.get_body(("plain",)).get_content()


def test_sent_once_restores_the_cart_and_counts_the_order(
    app, client, checkout_shop, recovery_on, login
):
    left_at_shipping(client, checkout_shop)
    assert run_worker(utcnow()) == 0  # not abandoned yet
    assert run_worker(utcnow() + LATER) == 1
    assert run_worker(utcnow() + LATER) == 0  # never twice
    (sent,) = emails(recovery_on)
    message, text = body(sent)
    assert message["To"] == "ada@example.com" and "List-Unsubscribe" in message
    assert "Field Tee" in text
    link = re.search(rf"{re.escape(SHOP_URL)}(/recover/[^/\s]+)\s", text).group(1)

    phone = app.test_client()  # the shopper opens the email elsewhere
    restored = phone.get(link)  # back into checkout, where they had got to: shipping
    assert restored.status_code == 303, restored.status_code
    key = re.search(r"/checkout/([^/]+)/shipping$", restored.location).group(1)
    page = phone.get(f"/checkout/{key}/shipping").get_data(as_text=True)
    assert "Welcome back" in page and "Field Tee" in page
    assert "Field Tee" in phone.get("/cart").get_data(as_text=True)  # the cart is back too
    assert (
        phone.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"}).status_code == 303
    )
    assert phone.post(f"/checkout/{key}/place", data=CARD).status_code == 303

    assert run_worker(utcnow() + timedelta(days=2)) == 0  # ordered: no reminder
    assert len(emails(recovery_on)) == 1
    login("support")
    page = client.get("/console/orders/abandoned").get_data(as_text=True)
    assert re.search(r"<strong>1</strong> order placed from a recovery link, <strong>\$\d", page)
    assert phone.get("/recover/not-a-token").status_code == 404


def test_not_sent_after_the_shopper_ordered(app, client, checkout_shop, recovery_on):
    left_at_shipping(client, checkout_shop)
    other = app.test_client()
    key = left_at_shipping(other, checkout_shop)  # the same shopper, another browser, orders
    assert (
        other.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"}).status_code == 303
    )
    assert other.post(f"/checkout/{key}/place", data=CARD).status_code == 303
    assert run_worker(utcnow() + LATER) == 0
    assert emails(recovery_on) == []


def test_a_reminder_follows_once_and_unsubscribing_stops_them(
    app, client, checkout_shop, recovery_on
):
    left_at_shipping(client, checkout_shop)
    assert run_worker(utcnow() + LATER) == 1
    assert run_worker(utcnow() + LATER + timedelta(hours=23)) == 0
    assert run_worker(utcnow() + LATER + timedelta(hours=25)) == 1  # the reminder
    assert run_worker(utcnow() + LATER + timedelta(hours=26)) == 0
    _first, second = emails(recovery_on)
    _, text = body(second)
    assert "still waiting" in text
    unsubscribe = re.search(rf"{re.escape(SHOP_URL)}(/recover/unsubscribe/\S+)", text).group(1)
    page = client.get(unsubscribe)
    assert page.status_code == 200 and "Stop the reminders" in page.get_data(as_text=True)
    assert "will not send" in client.post(unsubscribe).get_data(as_text=True)

    again = app.test_client()  # a new checkout by the same address: no email
    left_at_shipping(again, checkout_shop)
    assert run_worker(utcnow() + timedelta(hours=30)) == 0


def test_consent_is_asked_and_respected_when_the_shop_requires_it(
    app, client, checkout_shop, recovery_on
):
    save_recovery_settings(
        abandoned_after_minutes="60",
        first_email=True,
        second_email=False,
        second_after_hours="24",
        require_consent=True,
        by=None,
    )
    assert add(client, checkout_shop.small, 1).status_code == 303
    key, _ = enter_checkout(client)
    assert "Email me a reminder" in client.get(f"/checkout/{key}/information").get_data(
        as_text=True
    )
    assert information(client, key, email="no@example.com").status_code == 303
    yes = app.test_client()
    assert add(yes, checkout_shop.small, 1).status_code == 303
    yes_key, _ = enter_checkout(yes)
    assert (
        information(yes, yes_key, email="yes@example.com", recovery_consent="y").status_code == 303
    )
    assert db.session.scalar(select(Checkout.recovery_consent).where(Checkout.key == yes_key))
    assert run_worker(utcnow() + LATER) == 1
    (sent,) = emails(recovery_on)
    assert body(sent)[0]["To"] == "yes@example.com"


def test_the_console_lists_abandoned_checkouts_and_saves_settings(
    client, checkout_shop, recovery_on, login
):
    left_at_shipping(client, checkout_shop, email="list@example.com")
    login("admin")
    # the checkout is recent: the list shows checkouts past the delay only
    assert "list@example.com" not in client.get("/console/orders/abandoned").get_data(as_text=True)
    answer = client.post(
        "/console/settings/recovery",
        data={"abandoned_after_minutes": "2", "second_after_hours": "24"},
    )
    assert answer.status_code == 422 and "from 5 to" in answer.get_data(as_text=True)
    answer = client.post(
        "/console/settings/recovery",
        data={"abandoned_after_minutes": "5", "second_after_hours": "0"},
    )
    assert answer.status_code == 422
    answer = client.post(
        "/console/settings/recovery",
        data={"abandoned_after_minutes": "5", "second_after_hours": "24", "first_email": "y"},
    )
    assert answer.status_code == 303
    db.session.execute(
        Checkout.__table__.update().values(updated_at=utcnow() - timedelta(minutes=10))
    )
    page = client.get("/console/orders/abandoned?shown=waiting&q=list").get_data(as_text=True)
    assert "list@example.com" in page and "Shipping" in page and "$50.00" in page
    assert "list@example.com" not in client.get("/console/orders/abandoned?shown=emailed").get_data(
        as_text=True
    )


def test_the_merchants_code_is_offered_and_entered_in_the_restored_cart(
    app, client, checkout_shop, recovery_on
):
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.services import create_promotion, enable_promotion

    promotion = create_promotion(
        by=None,
        name="Come back",
        requires_coupon=True,
        actions=[{"kind": "percent_off_order", "params": {"percent": 10}}],
    )
    add_coupon_code(promotion, code="COMEBACK", by=None)
    enable_promotion(promotion, by=None)
    save_recovery_settings(
        abandoned_after_minutes="60",
        first_email=True,
        second_email=False,
        second_after_hours="24",
        require_consent=False,
        promotion_code="comeback",
        by=None,
    )
    left_at_shipping(client, checkout_shop)
    assert run_worker(utcnow() + LATER) == 1
    (sent,) = emails(recovery_on)
    _, text = body(sent)
    assert "Use the code COMEBACK" in text
    link = re.search(rf"{re.escape(SHOP_URL)}(/recover/[^/\s]+)\s", text).group(1)
    phone = app.test_client()
    phone.get(link)
    cart = phone.get("/cart").get_data(as_text=True)
    assert "COMEBACK" in cart and "Come back" in cart
