"""The simulator: a test cart priced as the shop would, and for every promotion whether it
applied and how much, or why not."""

from __future__ import annotations

import re
from datetime import timedelta

from commerce.db import utcnow
from tests.commerce.promotions import conftest as promotion_fixtures
from tests.commerce.promotions.conftest import row
from tests.conftest import htmx_headers

# The promotion tests' small shop and promo(...) factory, as fixtures here too.
shop = promotion_fixtures.shop
promo = promotion_fixtures.promo


def text(response) -> str:
    return response.get_data(as_text=True)


def outcome(response, name: str) -> str:
    """The "Result" and "Took" cells of a promotion's row, as text."""
    found = re.search(rf">{re.escape(name)}</a>.*?</tr>", text(response), re.S)
    assert found, f"{name} is not listed"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found.group(0), re.S)
    return " | ".join(" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells[-2:]).strip()


def cart(**lines: int) -> str:
    return "&".join(f"variant={v}&quantity={q}" for v, q in lines.items())


def test_applied_and_why_not(client, login, shop, promo):
    tee_deal = promo(
        [row("buy_x_get_y", buy=2, get=1, buy_items={"categories": [shop.clothing.id]})],
        name="Tee deal",
    )
    promo(
        [row("amount_off_order", amount=1000)],
        [row("subtotal_at_least", amount=5000)],
        name="Big spender",
    )
    promo([row("percent_off_order", percent=10)], name="Coded", code="SUMMER", requires_coupon=True)
    promo([row("percent_off_order", percent=50)], name="Not yet", enabled=False)
    promo(
        [row("free_shipping")],
        [row("shipping_country", countries=["GB"])],
        name="UK shipping",
    )
    login("merchandiser")
    response = client.get(
        f"/console/promotions/simulator?variant={shop.tee}&quantity=3&country=FR&promotion={tee_deal.id}"
    )
    assert response.status_code == 200
    assert outcome(response, "Tee deal") == "Applied | \u2212$10.00"
    assert outcome(response, "Big spender") == "Not applied: subtotal $30.00 is below $50.00 |"
    assert outcome(response, "Coded") == "Not applied: code SUMMER not entered |"
    assert outcome(response, "Not yet") == "Not applied: draft: not published yet |"
    assert outcome(response, "UK shipping") == "Not applied: ships to FR, not GB |"
    body = text(response)
    assert "Plain tee" in body and f'name="variant" value="{shop.tee}"' in body
    assert "Tee deal: \u2212$10.00" in body  # the line's explanation from the pricing pipeline
    assert re.search(rf'class="applied highlight" data-promotion="{tee_deal.id}"', body)


def test_context_changes_the_answer(client, login, shop, promo):
    promo([row("percent_off_order", percent=10)], name="Coded", code="SUMMER", requires_coupon=True)
    promo(
        [row("free_shipping")],
        [row("shipping_country", countries=["GB"])],
        name="UK shipping",
    )
    promo([row("amount_off_order", amount=500)], [row("customer_tag", tags=["vip"])], name="VIP")
    login("merchandiser")
    response = client.get(
        f"/console/promotions/simulator?{cart(**{str(shop.mug): 2})}"
        "&country=GB&shipping=STD&code=summer&tags=VIP"
    )
    assert outcome(response, "Coded") == "Applied | \u2212$3.00"
    assert outcome(response, "UK shipping") == "Applied | \u2212$5.00 shipping"
    assert outcome(response, "VIP") == "Applied | \u2212$5.00"
    body = text(response)
    assert "SUMMER applied." in body
    assert "$0.00 (Standard, \u2212$5.00)" in body


def test_price_as_of_a_moment(client, login, shop, promo):
    starts = utcnow() + timedelta(days=10)
    promo([row("percent_off_order", percent=10)], name="Later", starts_at=starts, timezone="UTC")
    login("merchandiser")
    now = client.get(f"/console/promotions/simulator?{cart(**{str(shop.mug): 1})}")
    assert outcome(now, "Later").startswith("Not applied: starts ")
    later = (starts + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    then = client.get(f"/console/promotions/simulator?{cart(**{str(shop.mug): 1})}&at={later}")
    assert outcome(then, "Later") == "Applied | \u2212$1.50"


def test_empty_cart_and_fragment(client, login, shop, promo):
    promo([row("percent_off_order", percent=10)], name="Ten")
    login("merchandiser")
    empty = client.get("/console/promotions/simulator")
    assert empty.status_code == 200
    assert "Add items to the test cart" in text(empty)
    assert outcome(empty, "Ten") == "Not applied: the cart is empty |"
    fragment = client.get(
        f"/console/promotions/simulator?{cart(**{str(shop.mug): 1})}", headers=htmx_headers()
    )
    assert text(fragment).lstrip().startswith('<section id="simulation"')
    assert outcome(fragment, "Ten") == "Applied | \u2212$1.50"


def test_bad_input_is_reported(client, login, shop):
    login("merchandiser")
    response = client.get(
        f"/console/promotions/simulator?variant={shop.mug}&quantity=0&country=France&at=soon"
    )
    assert response.status_code == 422
    body = text(response)
    assert "Quantities are whole numbers from 1 to 10,000." in body
    assert "Enter a two-letter country code, e.g. GB." in body
    assert "Enter a date and time." in body


def test_simulator_needs_promotions_view(client, login):
    login("warehouse")
    assert client.get("/console/promotions/simulator").status_code == 403
