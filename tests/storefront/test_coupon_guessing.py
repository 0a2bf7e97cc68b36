"""Guessing discount codes (the probe's replay): refused codes are counted per cart and per client
address in the rate limiter's storage; past the budget every code, right or wrong, is refused at
the field with 429 and a message saying when to try again, for pages and htmx alike."""

from __future__ import annotations

import pytest

from commerce.extensions import limiter
from tests.storefront.test_cart_checkout import add, enter_checkout
from tests.storefront.test_promotions_checkout import summer, text


@pytest.fixture
def limits_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "COUPON_CART_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "COUPON_ADDRESS_RATE_LIMIT", "5 per minute")
    monkeypatch.setattr(limiter, "enabled", True)
    limiter.reset()
    yield
    limiter.reset()


def guess(client, code, **kw):
    return client.post("/cart/coupon", data={"coupon_code": code}, **kw)


def test_guessing_codes_in_one_cart_is_stopped(limits_on, client, checkout_shop):
    summer()
    add(client, checkout_shop.small, 1)
    assert [guess(client, f"GUESS{i}").status_code for i in range(3)] == [422, 422, 422]
    stopped = guess(client, "GUESS3")
    assert stopped.status_code == 429
    assert "Too many codes were tried. Please try again in a minute." in text(stopped)
    assert int(stopped.headers["Retry-After"]) >= 1
    # even the right code waits: the budget is not a hint
    assert guess(client, "SUMMER").status_code == 429
    fragment = guess(client, "SUMMER", headers={"HX-Request": "true"})
    assert fragment.status_code == 429 and "<html" not in text(fragment)
    assert "Too many codes were tried" in text(fragment)
    # the checkout of the same cart shares its budget
    key, _ = enter_checkout(client)
    at_checkout = client.post(f"/checkout/{key}/coupon", data={"coupon_code": "SUMMER"})
    assert at_checkout.status_code == 429 and "Too many codes" in text(at_checkout)


def test_new_carts_from_one_address_share_the_address_budget(app, limits_on, checkout_shop):
    summer()
    answers = []
    for _ in range(3):  # a fresh cart (a fresh cookie jar) each time, two guesses each
        shopper = app.test_client()
        add(shopper, checkout_shop.small, 1)
        answers += [guess(shopper, "NOPE1").status_code, guess(shopper, "NOPE2").status_code]
    assert answers == [422, 422, 422, 422, 422, 429]
    elsewhere = app.test_client()
    add(elsewhere, checkout_shop.small, 1)
    other_address = {"REMOTE_ADDR": "198.51.100.7"}
    assert guess(elsewhere, "SUMMER", environ_base=other_address).status_code == 303


def test_a_right_code_costs_nothing(limits_on, client, checkout_shop):
    summer()
    add(client, checkout_shop.small, 1)
    assert [guess(client, "SUMMER").status_code for _ in range(6)] == [303] * 6
