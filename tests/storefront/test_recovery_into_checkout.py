"""The recovery link returns the shopper into checkout (issue 18): a fresh checkout of the
restored cart with its own stock hold, at the furthest step still valid (email, address and
shipping method prefilled while they still serve), through the checkout line when it is full;
the order placed from it counts as recovered revenue; a second click, a forged link and a
shopper who has ordered since are answered safely. Through HTTP."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from commerce.abandoned.queries import list_abandoned, recovered_revenue
from commerce.checkout.models import Checkout
from commerce.crowd import crowd_state
from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.models import Reservation
from commerce.orders.models import Order
from tests.storefront.test_cart_checkout import CARD, add, enter_checkout, information
from tests.storefront.test_checkout_recovery import (
    LATER,
    body,
    emails,
    recovery_on,
    run_worker,
)
from tests.storefront.test_no_shipping_checkout import gift_card

__all__ = ["gift_card", "recovery_on"]  # fixtures used here


def recovery_link(mail_dir: Any) -> str:
    (sent,) = emails(mail_dir)
    _, text = body(sent)
    return re.search(r"https?://[^/\s]+(/recover/[^/\s]+)\s", text).group(1)


def left_at_payment(client: Any, variant_id: int) -> str:
    assert add(client, variant_id, 2).status_code == 303
    key, _ = enter_checkout(client)
    assert information(client, key, email="ada@example.com").status_code == 303
    client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
    return key


def step_of(location: str) -> tuple[str, str]:
    key, step = re.search(r"/checkout/([^/]+)/(\w+)$", location).groups()
    return key, step


def held(key: str) -> int:
    return sum(
        db.session.scalars(
            select(Reservation.quantity).where(Reservation.reference == f"checkout:{key}")
        )
    )


def test_the_link_lands_at_payment_prefilled_and_the_order_counts_as_recovered(
    app, client, checkout_shop, recovery_on
):
    abandoned = left_at_payment(client, checkout_shop.small)
    assert run_worker(utcnow() + LATER) == 1
    link = recovery_link(recovery_on)

    phone = app.test_client()  # the email opened on another device
    landed = phone.get(link)
    assert landed.status_code == 303
    key, step = step_of(landed.location)
    assert step == "payment" and key != abandoned
    checkout = db.session.scalar(select(Checkout).where(Checkout.key == key))
    assert checkout.email == "ada@example.com" and checkout.shipping_method_code == "STD"
    assert checkout.shipping_address["city"] == "San Francisco"
    assert held(key) == 2  # the normal hold of a fresh checkout
    page = phone.get(landed.location).get_data(as_text=True)
    assert "Welcome back" in page and "ada@example.com" in page and "San Francisco" in page
    form = phone.get(f"/checkout/{key}/information").get_data(as_text=True)
    assert 'value="ada@example.com"' in form  # prefilled, to change if they want

    again = phone.get(link)  # a second click from the same browser: the same checkout
    assert step_of(again.location)[0] == key and held(key) == 2

    placed = phone.post(f"/checkout/{key}/place", data=CARD)
    assert placed.status_code == 303 and "/orders/" in placed.location
    order = db.session.scalar(select(Order).where(Order.checkout_key == key))
    recovered = recovered_revenue()
    assert (recovered.orders, recovered.revenue) == (1, order.total)

    done = phone.get(link)  # they have ordered since: a page, nothing restored
    assert done.status_code == 200 and "already ordered" in done.get_data(as_text=True)
    assert app.test_client().get(link[:-3] + "xyz").status_code == 404  # forged


def test_what_is_no_longer_valid_is_asked_again(app, client, checkout_shop, recovery_on):
    from commerce.shipping.models import ShippingMethod
    from commerce.shipping.services import deactivate_shipping_method

    left_at_payment(client, checkout_shop.small)
    assert run_worker(utcnow() + LATER) == 1
    standard = db.session.scalar(select(ShippingMethod).where(ShippingMethod.code == "STD"))
    deactivate_shipping_method(standard, by=None)  # the method chosen is gone
    landed = app.test_client().get(recovery_link(recovery_on))
    key, step = step_of(landed.location)
    assert step == "shipping"  # the address still holds; the method is asked again
    checkout = db.session.scalar(select(Checkout).where(Checkout.key == key))
    assert checkout.shipping_address["city"] == "San Francisco"
    assert not checkout.shipping_method_code


def test_a_gift_card_left_behind_lands_at_payment(
    app, client, checkout_shop, gift_card, recovery_on
):
    assert add(client, gift_card, 1).status_code == 303
    key, _ = enter_checkout(client)
    client.post(f"/checkout/{key}/information", data={"email": "gia@example.com"})
    assert run_worker(utcnow() + LATER) == 1
    (row,) = list_abandoned(now=utcnow() + LATER).rows
    assert row.step == "Payment"  # the console: it had got as far as paying
    landed = app.test_client().get(recovery_link(recovery_on))
    new_key, step = step_of(landed.location)
    assert step == "payment"
    checkout = db.session.scalar(select(Checkout).where(Checkout.key == new_key))
    assert checkout.email == "gia@example.com" and checkout.shipping_address == {}


def test_when_the_checkout_line_is_full_the_shopper_waits_then_lands_prefilled(
    app, client, checkout_shop, recovery_on
):
    left_at_payment(client, checkout_shop.small)
    assert run_worker(utcnow() + LATER) == 1
    link = recovery_link(recovery_on)
    crowd_state().set_capacity(2)  # the shopper who left still counts until the hold's end
    inside = app.test_client()  # someone else is in checkout: the line is full
    assert add(inside, checkout_shop.medium, 1).status_code == 303
    inside_key, _ = enter_checkout(inside)

    phone = app.test_client()
    queued = phone.get(link)
    assert queued.status_code == 303 and "/checkout/queue?ticket=" in queued.location
    assert "Field Tee" in phone.get("/cart").get_data(as_text=True)  # the cart is back
    assert information(inside, inside_key).status_code == 303
    inside.post(f"/checkout/{inside_key}/shipping", data={"shipping_method": "STD"})
    assert inside.post(f"/checkout/{inside_key}/place", data=CARD).status_code == 303

    admitted = phone.get(queued.location)  # the turn comes: into checkout, prefilled
    assert admitted.status_code == 303
    key, step = step_of(admitted.location)
    assert step == "payment" and held(key) == 2
    placed = phone.post(f"/checkout/{key}/place", data=CARD)
    assert placed.status_code == 303 and "/orders/" in placed.location
    assert recovered_revenue().orders == 1


def test_a_signed_in_shopper_gets_the_items_in_their_own_cart_and_checkout(
    app, client, checkout_shop, recovery_on, make_customer
):
    from commerce.checkout.models import Cart
    from tests.storefront.test_account import shop_sign_in

    customer = make_customer(email="cora@example.com")
    left_at_payment(client, checkout_shop.small)  # as a guest, then given her address
    db.session.execute(
        Checkout.__table__.update()
        .where(Checkout.email == "ada@example.com")
        .values(email="cora@example.com")
    )
    db.session.commit()
    assert run_worker(utcnow() + LATER) == 1
    laptop = app.test_client()
    assert shop_sign_in(laptop, customer).status_code == 303
    assert add(laptop, checkout_shop.medium, 1).status_code == 303  # already in her cart
    landed = laptop.get(recovery_link(recovery_on))
    key, step = step_of(landed.location)
    assert step == "payment"  # her own email; the address and method from the link's checkout
    checkout = db.session.scalar(select(Checkout).where(Checkout.key == key))
    cart = db.session.get(Cart, checkout.cart_id)
    assert cart.customer_id == customer.id and checkout.customer_id == customer.id
    assert sorted(cart.line_pairs()) == sorted(
        [(checkout_shop.small, 2), (checkout_shop.medium, 1)]
    )
    assert laptop.get(landed.location).status_code == 200
    assert laptop.post(f"/checkout/{key}/place", data=CARD).status_code == 303
    assert recovered_revenue().orders == 1


def test_an_expired_link_restores_nothing(app, client, checkout_shop, recovery_on, monkeypatch):
    from commerce.abandoned import services

    left_at_payment(client, checkout_shop.small)
    assert run_worker(utcnow() + LATER) == 1
    link = recovery_link(recovery_on)
    monkeypatch.setattr(services, "LINK_DAYS", -1)  # issued longer ago than links last
    checkouts = db.session.scalar(select(func.count()).select_from(Checkout))
    assert app.test_client().get(link).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == checkouts
