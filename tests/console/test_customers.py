"""Customers in the console through HTTP: search and pages, one customer's orders, money,
addresses and internal notes; who may look."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from commerce.customers.models import Address
from commerce.extensions import db
from commerce.orders.models import CANCELLED
from commerce.orders.services import add_note
from tests.commerce.orders.test_queries import build_order
from tests.conftest import htmx_headers


def text(response) -> str:
    return response.get_data(as_text=True)


def emails(response) -> list[str]:
    return re.findall(r"<td>([^<@]+@[^<]+)</td>", text(response))


@pytest.fixture
def people(make_customer):
    return {
        "ada": make_customer(email="ada@lovelace.example", name="Ada Lovelace"),
        "grace": make_customer(email="grace@navy.example", name="Grace Hopper"),
        "alan": make_customer(email="alan@turing.example", name="Alan Turing"),
    }


class TestList:
    @pytest.mark.parametrize("url", ["/console/customers", "/console/customers/1"])
    def test_merchandiser_is_refused(self, client, login, url):
        login("merchandiser")
        assert client.get(url).status_code == 403

    def test_search_by_email_or_name(self, client, login, people):
        login("support")
        page = client.get("/console/customers")
        assert page.status_code == 200 and 'class="sidebar"' in text(page)
        assert emails(page) == ["alan@turing.example", "grace@navy.example", "ada@lovelace.example"]
        assert emails(client.get("/console/customers?q=NAVY")) == ["grace@navy.example"]
        fragment = client.get("/console/customers?q=lovelace", headers=htmx_headers())
        assert text(fragment).lstrip().startswith('<div id="list">')
        assert emails(fragment) == ["ada@lovelace.example"]
        assert "data-keynav" in text(fragment)
        assert f'data-href="/console/customers/{people["ada"].id}"' in text(fragment)
        nobody = text(client.get("/console/customers?q=zzz%25"))
        assert "No customers match" in nobody and "/console/orders?q=zzz%25" in nobody

    def test_pages(self, app, client, login, people, monkeypatch):
        monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
        login("warehouse")
        first = client.get("/console/customers?q=.example")
        assert emails(first) == ["alan@turing.example", "grace@navy.example"]
        assert "3 customers" in text(first)
        next_url = re.search(r'rel="next" href="([^"]+)"', text(first)).group(1)
        second = client.get(next_url.replace("&amp;", "&"), headers=htmx_headers())
        assert emails(second) == ["ada@lovelace.example"]

    def test_statements_do_not_grow_with_rows(self, client, login, make_customer, query_counter):
        login("support")
        make_customer()
        client.get("/console/customers")
        with query_counter() as few:
            client.get("/console/customers")
        for _ in range(6):
            make_customer()
        with query_counter() as many:
            client.get("/console/customers")
        assert len(many) == len(few)


class TestDetail:
    def test_orders_money_addresses_and_notes(self, client, login, checkout_shop, people):
        ada = people["ada"]
        db.session.add(
            Address(
                customer_id=ada.id,
                name="Ada L.",
                line1="12 Analytical Row",
                city="London",
                postal_code="N1 9GU",
                country="GB",
                is_default=True,
            )
        )
        db.session.commit()
        one = build_order(checkout_shop, email=ada.email, customer=ada, quantity=1)
        two = build_order(checkout_shop, email=ada.email, customer=ada, quantity=2)
        gone = build_order(checkout_shop, email=ada.email, customer=ada, quantity=1)
        guest = build_order(checkout_shop, email=ada.email, quantity=1)  # no account
        gone.status, gone.refunded_total = CANCELLED, gone.paid_total
        two.refunded_total = 1000
        db.session.commit()
        add_note(two, text="Prefers a call before delivery.", by=None)
        add_note(one, text="Thanks for your order!", by=None, customer_visible=True)
        spent = one.paid_total + two.paid_total - 1000
        # Two orders were not cancelled; the average is rounded half-even to whole cents.
        average = int((Decimal(spent) / 2).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

        login("support")
        response = client.get(f"/console/customers/{ada.id}")
        html = text(response)
        assert response.status_code == 200
        assert "Ada Lovelace" in html and "ada@lovelace.example" in html
        for order in (one, two, gone):
            assert f'href="/console/orders/{order.id}"' in html
        assert f'href="/console/orders/{guest.id}"' not in html
        assert "(1 cancelled)" in html
        assert f"${spent / 100:,.2f}" in html and f"${average / 100:,.2f}" in html
        assert "12 Analytical Row" in html and "United Kingdom" in html
        assert "Prefers a call before delivery." in html
        assert "Thanks for your order!" not in html  # a customer comment is not an internal note
        assert f"/console/orders?customer={ada.id}" in html

    def test_a_customer_without_orders(self, client, login, people):
        login("admin")
        html = text(client.get(f"/console/customers/{people['grace'].id}"))
        assert "No orders with this account yet." in html and "No saved addresses." in html

    def test_missing_customer(self, client, login):
        login("support")
        assert client.get("/console/customers/999999").status_code == 404


class TestTags:
    def test_support_tags_a_customer_and_it_is_audited(self, client, login, people):
        from commerce.audit import AuditEntry

        ada = people["ada"]
        login("support")
        page = text(client.get(f"/console/customers/{ada.id}"))
        assert f'action="/console/customers/{ada.id}/tags"' in page and "No tags." in page
        response = client.post(
            f"/console/customers/{ada.id}/tags", data={"tags": "VIP, wholesale, vip"}
        )
        assert response.status_code == 303
        db.session.refresh(ada)
        assert ada.tags == ["VIP", "wholesale"]
        entry = db.session.query(AuditEntry).filter_by(action="customer.tags").one()
        assert entry.before == {"tags": []} and entry.after == {"tags": ["VIP", "wholesale"]}
        assert '<span class="tag">wholesale</span>' in text(
            client.get(f"/console/customers/{ada.id}")
        )

    def test_a_tag_too_long_is_answered_at_the_field(self, client, login, people):
        ada = people["ada"]
        login("support")
        response = client.post(f"/console/customers/{ada.id}/tags", data={"tags": "x" * 200})
        assert response.status_code == 422
        assert 'class="field-msg" role="alert">Tags are at most' in text(response)
        db.session.refresh(ada)
        assert ada.tags == []

    def test_warehouse_may_not_tag(self, client, login, people):
        login("warehouse")
        response = client.post(f"/console/customers/{people['ada'].id}/tags", data={"tags": "x"})
        assert response.status_code == 403


def test_a_tagged_customer_gets_the_tag_promotion_at_checkout(checkout_shop, make_customer):
    """Tags set by staff reach pricing: the cart and the checkout of a signed-in customer."""
    from commerce.checkout.cart import add_to_cart, cart_context
    from commerce.checkout.services import price_checkout, start_checkout
    from commerce.customers.services import set_customer_tags
    from commerce.pricing import CartLine, price_cart
    from commerce.promotions.services import create_promotion, enable_promotion

    sale = create_promotion(
        by=None,
        name="VIP",
        conditions=[{"kind": "customer_tag", "params": {"tags": ["vip"]}}],
        actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}],
    )
    enable_promotion(sale, by=None)
    vip = make_customer(email="vip@example.com", name="Very Important")
    cart = add_to_cart(None, variant_id=checkout_shop.small, quantity=2, customer_id=vip.id)
    lines = [CartLine(checkout_shop.small, 2)]
    assert price_cart(lines, cart_context(cart, customer=vip)).totals.discounts == 0
    set_customer_tags(vip, "VIP", by=None)
    assert price_cart(lines, cart_context(cart, customer=vip)).totals.discounts == 500
    checkout = start_checkout(cart, customer=vip)
    assert price_checkout(checkout).totals.discounts == 500
