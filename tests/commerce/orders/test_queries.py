"""The console's order reads (commerce/orders/queries.py) against orders placed through the
real checkout: every filter, sorting with keyset pages, the dashboard counts, customers, and the
refund approval queue, each in a fixed number of statements."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.customers.models import Address
from commerce.extensions import db
from commerce.orders.models import (
    CANCELLED,
    COMPLETED,
    CONSOLE,
    FULFILLED,
    PARTIALLY_FULFILLED,
    REFUND_AWAITING_APPROVAL,
    REFUND_REJECTED,
    REFUNDED,
    Order,
    Refund,
)
from commerce.orders.queries import (
    OrderFilter,
    count_awaiting_fulfillment,
    count_orders,
    customer_notes,
    customer_totals,
    list_customers,
    list_orders,
    refunds_awaiting_approval,
    sales_between,
    sales_today,
    shop_day_start,
    shop_today,
)
from commerce.orders.services import add_note
from tests.conftest import TEST_CARD, US_ADDRESS

_keys = itertools.count(1)


def build_order(
    shop: Any,
    *,
    quantity: int = 1,
    medium: int = 0,
    email: str = "ada@example.com",
    name: str = "Ada Shopper",
    customer: Any = None,
    placed_at: datetime | None = None,
    **values: Any,
) -> Order:
    """An order through the real checkout; `values` then set columns directly (statuses,
    channel, placed_at), as the list only reads them."""
    cart = add_to_cart(None, variant_id=shop.small, quantity=quantity) if quantity else None
    if medium:
        cart = add_to_cart(cart, variant_id=shop.medium, quantity=medium)
    checkout = start_checkout(cart, customer=customer)
    save_information(checkout, email=email, address={**US_ADDRESS, "name": name})
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    if placed_at is not None:
        values["placed_at"] = placed_at
    for key, value in values.items():
        setattr(order, key, value)
    db.session.commit()
    return order


@pytest.fixture
def make_order(checkout_shop: Any) -> Callable[..., Order]:
    return lambda **kw: build_order(checkout_shop, **kw)


def numbers(page: Any) -> list[int]:
    return [row.number for row in page.items]


def ids(flt: OrderFilter) -> set[int]:
    return {row.id for row in list_orders(flt, limit=100).items}


class TestFilters:
    def test_statuses_channel_email_and_sku(self, make_order):
        plain = make_order(email="ada@example.com")
        shipped = make_order(
            email="bob@example.com", medium=1, quantity=0, fulfillment_status=FULFILLED
        )
        cancelled = make_order(email="cy@example.com", status=CANCELLED, payment_status=REFUNDED)
        phone = make_order(email="ada@example.com", channel=CONSOLE, status=COMPLETED)

        assert ids(OrderFilter(statuses=("cancelled",))) == {cancelled.id}
        assert ids(OrderFilter(statuses=("open", "completed"))) == {plain.id, shipped.id, phone.id}
        assert ids(OrderFilter(payment_statuses=("refunded",))) == {cancelled.id}
        assert ids(OrderFilter(fulfillment_statuses=("fulfilled",))) == {shipped.id}
        assert ids(OrderFilter(channel="console")) == {phone.id}
        assert ids(OrderFilter(email=" ADA@example.com ")) == {plain.id, phone.id}
        medium_sku = shipped.lines[0].sku
        assert medium_sku and medium_sku != plain.lines[0].sku
        assert ids(OrderFilter(sku=medium_sku)) == {shipped.id}
        assert ids(OrderFilter(sku=medium_sku.lower())) == {shipped.id}
        assert ids(OrderFilter(sku="NO-SUCH-SKU")) == set()
        # Unknown values are dropped, not matched literally.
        assert ids(OrderFilter(statuses=("bogus",))) == {
            plain.id,
            shipped.id,
            cancelled.id,
            phone.id,
        }

    def test_totals_are_minor_units_inclusive(self, make_order):
        one = make_order(quantity=1)
        three = make_order(quantity=3)
        assert one.total < three.total
        assert ids(OrderFilter(total_min=three.total)) == {three.id}
        assert ids(OrderFilter(total_max=one.total)) == {one.id}
        assert ids(OrderFilter(total_min=one.total, total_max=three.total)) == {one.id, three.id}
        assert ids(OrderFilter(total_min=one.total + 1, total_max=three.total - 1)) == set()

    def test_internal_notes(self, make_order):
        noted = make_order()
        commented = make_order()
        plain = make_order()
        add_note(noted, text="Called about the delivery.", by=None)
        add_note(commented, text="On its way!", by=None, customer_visible=True)
        assert ids(OrderFilter(has_note=True)) == {noted.id}
        assert ids(OrderFilter(has_note=False)) == {commented.id, plain.id}
        rows = {r.id: r for r in list_orders(OrderFilter()).items}
        assert rows[noted.id].has_note and not rows[commented.id].has_note

    def test_dates_are_days_in_the_shop_time_zone(self, app, make_order, monkeypatch):
        monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/New_York")  # UTC-5 in January
        assert shop_day_start(date(2026, 1, 15)) == datetime(2026, 1, 15, 5, 0)
        late_14th = make_order(placed_at=datetime(2026, 1, 15, 3, 0))  # 22:00 on the 14th
        early_15th = make_order(placed_at=datetime(2026, 1, 15, 5, 0))  # 00:00 on the 15th
        late_15th = make_order(placed_at=datetime(2026, 1, 16, 4, 59))  # 23:59 on the 15th
        on_16th = make_order(placed_at=datetime(2026, 1, 16, 5, 0))
        day = date(2026, 1, 15)
        assert ids(OrderFilter(placed_from=day, placed_to=day)) == {early_15th.id, late_15th.id}
        assert ids(OrderFilter(placed_to=date(2026, 1, 14))) == {late_14th.id}
        assert on_16th.id in ids(OrderFilter(placed_from=date(2026, 1, 16)))

    def test_quick_search_by_number_email_or_name(self, make_order):
        ada = make_order(email="ada@example.com", name="Ada Lovelace")
        grace = make_order(email="grace@navy.example", name="Grace Hopper")
        assert ids(OrderFilter(q=f"#{ada.number}")) == {ada.id}
        assert ids(OrderFilter(q=str(grace.number))) == {grace.id}
        assert ids(OrderFilter(q="NAVY")) == {grace.id}
        assert ids(OrderFilter(q="lovelace")) == {ada.id}
        assert ids(OrderFilter(q="100%")) == set()  # the % is literal, not a wildcard
        assert ids(OrderFilter(q="#99999999999999999999")) == set()

    def test_customer(self, make_order, make_customer):
        customer = make_customer(email="cust@example.com")
        mine = make_order(email="cust@example.com", customer=customer)
        make_order(email="cust@example.com")  # a guest order with the same email
        assert ids(OrderFilter(customer_id=customer.id)) == {mine.id}


class TestSortAndPages:
    def test_keyset_pages_follow_each_sort(self, make_order):
        base = datetime(2026, 2, 1, 12, 0)
        orders = [
            make_order(quantity=q, name=n, placed_at=base + timedelta(hours=h))
            for q, n, h in [
                (2, "Cleo", 3),
                (1, "Abe", 1),
                (3, "Bea", 2),
                (1, "Abe", 5),
                (2, "Dan", 4),
            ]
        ]
        expected = {
            ("placed", "desc"): sorted(orders, key=lambda o: o.placed_at, reverse=True),
            ("number", "asc"): sorted(orders, key=lambda o: o.id),
            ("total", "desc"): sorted(orders, key=lambda o: (o.total, o.id), reverse=True),
            ("customer", "asc"): sorted(orders, key=lambda o: (o.customer_name, o.id)),
        }
        for (sort, direction), want in expected.items():
            flt = OrderFilter(sort=sort, direction=direction)
            seen, pages, after = [], [], None
            while True:
                page = list_orders(flt, after=after, limit=2)
                assert page.total == 5
                pages.append(page)
                seen += [r.id for r in page.items]
                if not page.next_cursor:
                    break
                after = page.next_cursor
            assert seen == [o.id for o in want], (sort, direction)
            back = list_orders(flt, before=pages[1].prev_cursor, limit=2)
            assert [r.id for r in back.items] == [r.id for r in pages[0].items]
            assert back.prev_cursor is None

    def test_bad_cursor_and_sort_fall_back(self, make_order):
        first = make_order()
        second = make_order()
        page = list_orders(OrderFilter(sort="nope", direction="sideways"), after="%%%garbage")
        assert [r.id for r in page.items] == [second.id, first.id]
        page = list_orders(OrderFilter(sort="placed"), after="WyJub3QgYSBkYXRlIiwgMV0")
        assert [r.id for r in page.items] == [second.id, first.id]

    def test_rows_carry_item_counts(self, make_order):
        order = make_order(quantity=2, medium=3)
        (row,) = list_orders(OrderFilter()).items
        assert row.item_count == 5 and row.number == order.number and row.total == order.total

    def test_statements_do_not_grow_with_rows(self, make_order, query_counter):
        make_order()
        add_note(make_order(), text="note", by=None)
        flt = OrderFilter(has_note=False, sku="")
        with query_counter() as few:
            list_orders(flt)
        for _ in range(4):
            make_order(medium=1)
        with query_counter() as many:
            page = list_orders(flt)
        assert len(page.items) == 5
        assert len(many) == len(few) == 2  # the rows, the count


class TestDashboardCounts:
    def test_sales_today_in_the_shop_time_zone(self, app, make_order, monkeypatch):
        monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "Asia/Tokyo")  # UTC+9
        now = datetime(2026, 3, 10, 16, 0)  # 01:00 on the 11th in Tokyo
        assert shop_today(now) == date(2026, 3, 11)
        today = make_order(quantity=1, placed_at=datetime(2026, 3, 10, 15, 30))
        also = make_order(quantity=2, placed_at=datetime(2026, 3, 10, 16, 0))
        make_order(quantity=3, placed_at=datetime(2026, 3, 10, 15, 30), status=CANCELLED)
        make_order(quantity=1, placed_at=datetime(2026, 3, 10, 14, 59))  # the 10th in Tokyo
        sales = sales_today(now)
        assert sales.orders == 3 and sales.cancelled == 1
        assert sales.revenue == {today.currency: today.total + also.total}
        assert sales_between(datetime(2020, 1, 1), datetime(2020, 1, 2)).revenue == {}

    def test_awaiting_fulfillment(self, make_order):
        make_order()
        make_order(fulfillment_status=PARTIALLY_FULFILLED)
        make_order(fulfillment_status=FULFILLED)
        make_order(status=CANCELLED)
        make_order(status=COMPLETED, fulfillment_status=FULFILLED)
        assert count_awaiting_fulfillment() == 2


def add_refund(order: Order, *, status: str = REFUND_AWAITING_APPROVAL, **kw: Any) -> Refund:
    refund = Refund(
        order_id=order.id,
        amount=kw.pop("amount", 1000),
        currency=order.currency,
        status=status,
        idempotency_key=f"test-refund-{next(_keys)}",
        **kw,
    )
    db.session.add(refund)
    db.session.commit()
    return refund


class TestRefundQueue:
    def test_oldest_first_with_requester(self, make_order, make_staff):
        agent = make_staff("support", name="Sam Support")
        order = make_order(name="Ada Lovelace")
        newer = add_refund(order, reason="Damaged", requested_by_id=agent.id)
        older = add_refund(
            order, amount=2500, created_at=datetime(2026, 1, 1, 9, 0), requested_by_id=None
        )
        add_refund(order, status=REFUND_REJECTED)
        page = refunds_awaiting_approval()
        assert [r.id for r in page.items] == [older.id, newer.id] and page.total == 2
        assert page.items[1].requested_by == "Sam Support" and page.items[1].reason == "Damaged"
        assert page.items[0].requested_by == "system" and page.items[0].amount == 2500
        assert page.items[0].order_name == order.name
        second = refunds_awaiting_approval(after=refunds_awaiting_approval(limit=1).next_cursor)
        assert [r.id for r in second.items] == [newer.id]


class TestCustomers:
    def test_totals_notes_and_list(self, make_order, make_customer, query_counter):
        ada = make_customer(email="ada@lovelace.example", name="Ada Lovelace")
        make_customer(email="grace@navy.example", name="Grace Hopper")
        db.session.add(
            Address(
                customer_id=ada.id,
                name="Ada",
                line1="1 Analytical Way",
                city="London",
                postal_code="N1",
                country="GB",
            )
        )
        one = make_order(email=ada.email, customer=ada, quantity=1)
        two = make_order(email=ada.email, customer=ada, quantity=2)
        gone = make_order(email=ada.email, customer=ada, quantity=1)
        gone.status, gone.refunded_total = CANCELLED, gone.paid_total
        two.refunded_total = 500
        db.session.commit()
        add_note(two, text="Wants gift wrap.", by=None)
        add_note(one, text="Visible comment", by=None, customer_visible=True)

        (totals,) = customer_totals(ada.id)
        spent = one.paid_total + two.paid_total - 500
        assert (totals.orders, totals.cancelled, totals.spent) == (3, 1, spent)
        assert totals.average == round(spent / 2)
        assert [n.message for n in customer_notes(ada.id)] == ["Wants gift wrap."]

        page = list_customers("LOVELACE")
        assert [c.email for c in page.items] == [ada.email] and page.total == 1
        assert page.items[0].order_count == 3 and page.items[0].last_order_at is not None
        with query_counter() as statements:
            everyone = list_customers("")
        assert everyone.total >= 2 and len(statements) == 2
        assert count_orders(OrderFilter(customer_id=ada.id)) == 3
