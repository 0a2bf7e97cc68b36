"""The console's abandoned checkout list reads a page in a fixed number of statements,
however many checkouts it shows, and lists a shopper once (their latest checkout)."""

from __future__ import annotations

from datetime import timedelta

from commerce.abandoned.queries import list_abandoned
from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import save_information, start_checkout
from commerce.db import utcnow
from tests.conftest import US_ADDRESS, count_queries


def leave(shop, n, first=0):
    for i in range(first, first + n):
        checkout = start_checkout(add_to_cart(None, variant_id=shop.small, quantity=1 + i % 2))
        save_information(checkout, email=f"gone{i}@example.com", address=US_ADDRESS)


def statements_for_page():
    with count_queries() as statements:
        page = list_abandoned(now=utcnow() + timedelta(hours=2))
    return len(statements), page


def test_a_page_costs_the_same_for_3_or_12_checkouts(app, monkeypatch):
    from tests.conftest import build_checkout_shop

    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    checkout_shop = build_checkout_shop(stock=40)
    leave(checkout_shop, 3)
    few, page = statements_for_page()
    assert len(page.rows) == 3
    assert {row.value for row in page.rows} <= {2500, 5000}
    assert {row.step for row in page.rows} == {"Shipping"}
    leave(checkout_shop, 9, first=3)
    leave(checkout_shop, 1, first=11)  # a newer checkout by gone11: one row for them
    many, page = statements_for_page()
    assert len(page.rows) == 12
    assert many == few <= 5
