"""The console order list through HTTP: filters in the URL, sort and pages, the htmx fragment,
bad input answered at the filter, permissions, statements per page, and saved presets."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.orders.models import CANCELLED, CONSOLE, FULFILLED, PARTIALLY_PAID, REFUNDED
from commerce.orders.services import add_note
from commerce.staff.models import SavedFilter
from tests.commerce.orders.test_queries import build_order
from tests.conftest import htmx_headers, sign_in


@pytest.fixture
def make_order(checkout_shop):
    return lambda **kw: build_order(checkout_shop, **kw)


def text(response) -> str:
    return response.get_data(as_text=True)


def listed(response) -> list[str]:
    """The order names in the list, top to bottom."""
    return re.findall(
        r'<td class="nowrap"><a href="/console/orders/\d+">(#\d+)</a>', text(response)
    )


def major(amount: int) -> str:
    return str(Decimal(amount).scaleb(-2))


@pytest.fixture
def shop_orders(make_order):
    """Five orders that differ in one thing each from the first."""
    from datetime import datetime

    base = make_order(email="ada@example.com", name="Ada Lovelace", quantity=1)
    return {
        "base": base,
        "cancelled": make_order(
            email="bob@example.com", name="Bob", status=CANCELLED, payment_status=REFUNDED
        ),
        "shipped": make_order(
            email="cy@example.com", name="Cy", quantity=0, medium=2, fulfillment_status=FULFILLED
        ),
        "old_phone": make_order(
            email="ada@example.com",
            name="Ada Lovelace",
            quantity=3,
            channel=CONSOLE,
            payment_status=PARTIALLY_PAID,
            placed_at=datetime(2025, 6, 1, 12, 0),
        ),
        "noted": make_order(email="dee@example.com", name="Dee"),
    }


class TestPermissionsAndShape:
    @pytest.mark.parametrize("url", ["/console/orders", "/console/refunds/approvals"])
    def test_merchandiser_is_refused(self, client, login, url):
        login("merchandiser")
        assert client.get(url).status_code == 403
        assert client.get(url, headers=htmx_headers()).status_code == 403

    def test_support_lists_orders_but_not_the_approval_queue(self, client, login):
        login("support")
        assert client.get("/console/orders").status_code == 200
        assert client.get("/console/refunds/approvals").status_code == 403

    def test_anonymous_goes_to_sign_in(self, client):
        response = client.get("/console/orders?status=open")
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]

    def test_page_and_fragment(self, client, login, shop_orders):
        login("warehouse")
        page = client.get("/console/orders")
        html = text(page)
        assert page.status_code == 200
        assert 'class="sidebar"' in html and 'id="filters"' in html and 'id="list"' in html
        assert 'hx-get="/console/orders"' in html and 'hx-push-url="true"' in html
        assert "Ada Lovelace" in html and "ada@example.com" in html
        fragment = client.get("/console/orders?q=bob", headers=htmx_headers())
        body = text(fragment)
        assert fragment.status_code == 200
        assert body.lstrip().startswith('<div id="list">') and 'class="sidebar"' not in body
        assert 'id="filters"' not in body
        assert 'id="filter-sort" hx-swap-oob="true"' in body  # the bar's sort state follows
        assert listed(fragment) == [shop_orders["cancelled"].name]

    def test_rows_open_the_order_with_the_keyboard(self, client, login, shop_orders):
        login("support")
        html = text(client.get("/console/orders"))
        assert '<table class="grid orders" data-keynav>' in html
        order = shop_orders["base"]
        assert f'<tr data-href="/console/orders/{order.id}">' in html
        assert 'data-search aria-keyshortcuts="/"' in html
        detail = text(client.get(f"/console/orders/{order.id}"))
        assert '<a href="/console/orders">Orders</a>' in detail  # the order page's breadcrumb

    def test_nav_links_by_permission(self, client, login):
        login("support")
        html = text(client.get("/console/orders"))
        assert 'href="/console/customers"' in html
        assert 'href="/console/refunds/approvals"' not in html
        client.post("/console/logout")
        login("admin")
        assert 'href="/console/refunds/approvals"' in text(client.get("/console/orders"))

    def test_warehouse_selects_orders_and_prints_their_packing_slips(
        self, client, login, shop_orders
    ):
        login("support")  # may not fulfill: no selection, no bulk action, no nav link
        html = text(client.get("/console/orders"))
        assert "data-select-row" not in html and 'href="/console/orders/packing-slips"' not in html
        client.post("/console/logout")
        login("warehouse")
        html = text(client.get("/console/orders"))
        assert 'href="/console/orders/packing-slips"' in html
        form = re.search(r'<form id="bulk" method="post" action="([^"]+)"', html)
        assert form and form.group(1) == "/console/orders/packing-slips"
        wanted = [shop_orders["base"], shop_orders["noted"]]
        for order in wanted:
            assert f'name="order_id" value="{order.id}"' in html
        response = client.post(form.group(1), data={"order_id": [o.id for o in wanted]})
        assert response.status_code == 303
        job_page = text(client.get(response.headers["Location"]))
        assert "2 packing slips ready." in job_page

    def test_empty_states(self, client, login):
        login("support")
        assert "No orders yet" in text(client.get("/console/orders"))
        html = text(client.get("/console/orders?status=cancelled"))
        assert "No orders match" in html and "clear them" in html


class TestFilters:
    def check(self, client, query: str, *expected) -> None:
        for headers in ({}, htmx_headers()):
            response = client.get(f"/console/orders?{query}", headers=headers)
            assert response.status_code == 200, (query, text(response)[:300])
            assert sorted(listed(response)) == sorted(o.name for o in expected), query

    def test_each_filter_filters(self, client, login, shop_orders):
        o = shop_orders
        add_note(o["noted"], text="Asked for an invoice.", by=None)
        login("support")
        everything = list(o.values())
        self.check(client, "", *everything)
        self.check(client, "status=cancelled", o["cancelled"])
        self.check(
            client, "status=open&status=completed", *[v for k, v in o.items() if k != "cancelled"]
        )
        self.check(client, "payment=refunded", o["cancelled"])
        self.check(
            client, "payment=partially_paid&payment=refunded", o["old_phone"], o["cancelled"]
        )
        self.check(client, "fulfillment=fulfilled", o["shipped"])
        self.check(client, "channel=console", o["old_phone"])
        self.check(client, "note=1", o["noted"])
        self.check(client, "note=0", *[v for k, v in o.items() if k != "noted"])
        self.check(client, "email=ADA%40example.com", o["base"], o["old_phone"])
        self.check(client, f"sku={o['shipped'].lines[0].sku}", o["shipped"])
        self.check(client, "from=2025-05-31&to=2025-06-01", o["old_phone"])
        self.check(client, "to=2025-12-31", o["old_phone"])
        self.check(client, f"q=%23{o['noted'].number}", o["noted"])
        self.check(client, f"q={o['noted'].number}", o["noted"])
        self.check(client, "q=lovelace", o["base"], o["old_phone"])
        self.check(client, "q=cy%40example", o["shipped"])
        self.check(client, "email=ada%40example.com&channel=web", o["base"])

    def test_totals_are_typed_in_major_units(self, client, login, shop_orders):
        o = shop_orders
        login("support")
        big = o["old_phone"]
        assert big.total == max(x.total for x in o.values())
        self.check(client, f"total_min={major(big.total)}", big)
        self.check(client, f"total_min=${major(big.total)}", big)
        below = [x for x in o.values() if x is not big]
        self.check(client, f"total_max={major(big.total - 1)}", *below)
        self.check(
            client,
            f"total_min={major(o['base'].total)}&total_max={major(o['base'].total)}",
            *[x for x in o.values() if x.total == o["base"].total],
        )

    def test_sort_links_and_pages_keep_the_filter(
        self, app, client, login, make_order, monkeypatch
    ):
        monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
        orders = [make_order(quantity=q) for q in (1, 3, 2, 1, 2)]
        login("support")
        first = client.get("/console/orders?sort=total&dir=desc&note=0")
        want = [o.name for o in sorted(orders, key=lambda o: (o.total, o.id), reverse=True)]
        assert listed(first) == want[:2]
        html = text(first)
        assert "5 orders" in html
        next_url = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
        params = parse_qs(urlsplit(next_url).query)
        assert params["sort"] == ["total"] and params["note"] == ["0"] and "after" in params
        second = client.get(next_url, headers=htmx_headers())
        assert listed(second) == want[2:4]
        prev_url = re.search(r'rel="prev" href="([^"]+)"', text(second)).group(1)
        assert listed(client.get(prev_url.replace("&amp;", "&"))) == want[:2]
        # The column header flips the direction and drops the cursor.
        header = re.search(r'<a href="([^"]+)" class="sort active desc"', html).group(1)
        flipped = parse_qs(urlsplit(header.replace("&amp;", "&")).query)
        assert flipped["dir"] == ["asc"] and "after" not in flipped and flipped["note"] == ["0"]

    @pytest.mark.parametrize(
        ("query", "field", "message"),
        [
            ("from=2026-13-01", "from", "Enter a date like 2026-01-31."),
            ("to=yesterday", "to", "Enter a date like 2026-01-31."),
            ("from=2026-02-01&to=2026-01-01", "to", "The end date is before the start date."),
            ("total_min=abc", "total_min", "is not an amount"),
            ("total_max=1.234", "total_max", "at most 2 decimal places"),
            ("total_min=-5", "total_min", "Cannot be negative."),
            ("total_min=20&total_max=10", "total_max", "The maximum is below the minimum."),
            ("status=lost", "status", "Choose from the list."),
            ("payment=free&payment=paid", "payment", "Choose from the list."),
            ("channel=fax", "channel", "Choose a channel from the list."),
            ("note=maybe", "note", "Choose yes, no or any."),
            ("customer=abc", "customer", "Not a customer number."),
        ],
    )
    def test_bad_input_is_answered_at_the_filter(self, client, login, query, field, message):
        login("support")
        page = client.get(f"/console/orders?{query}")
        html = text(page)
        assert page.status_code == 422
        assert message in html
        if field != "customer":  # a hidden parameter: reported in the list's alert only
            msg = re.search(rf'id="filter-msg-{field}" role="alert">([^<]*)<', html).group(1)
            assert message in msg.replace("&#34;", '"')
        fragment = client.get(f"/console/orders?{query}", headers=htmx_headers())
        assert fragment.status_code == 422
        body = text(fragment)
        assert body.lstrip().startswith('<div id="list">') and message in body
        if field != "customer":
            assert re.search(
                rf'id="filter-msg-{field}" role="alert" hx-swap-oob="true">[^<]*'
                + re.escape(message.split(" ")[0]),
                body,
            )

    def test_junk_paging_and_sort_are_ignored(self, client, login, shop_orders):
        login("support")
        response = client.get("/console/orders?after=%%%&before=zz&sort=drop&dir=up&q=%00")
        assert response.status_code == 200


def test_statements_do_not_grow_with_rows(client, login, make_order, query_counter):
    login("support")
    make_order()
    add_note(make_order(), text="note", by=None)
    client.get("/console/orders")  # warm up (sign-in, first-request caches)
    with query_counter() as few:
        assert len(listed(client.get("/console/orders?sort=customer&dir=asc"))) == 2
    for n in range(5):
        order = make_order(medium=1)
        if n % 2:
            add_note(order, text="another", by=None)
    with query_counter() as many:
        assert len(listed(client.get("/console/orders?sort=customer&dir=asc"))) == 7
    assert len(many) == len(few)


class TestPresets:
    def test_save_use_and_delete(self, client, login, shop_orders):
        me = login("support")
        query = "status=cancelled&payment=refunded"
        html = text(client.get(f"/console/orders?{query}"))
        hidden = re.search(r'name="query" type="hidden" value="([^"]*)"', html)
        assert hidden and hidden.group(1).replace("&amp;", "&") == query

        saved = client.post("/console/orders/presets", data={"name": " Refunded ", "query": query})
        assert saved.status_code == 303
        assert saved.headers["Location"].endswith(f"/console/orders?{query}")
        preset = db.session.scalar(select(SavedFilter).where(SavedFilter.staff_id == me.id))
        assert (preset.area, preset.name, preset.query) == ("orders", "Refunded", query)
        preset_id = preset.id

        html = text(client.get("/console/orders"))
        link = f'<a href="/console/orders?{query.replace("&", "&amp;")}">Refunded</a>'
        assert link in html
        assert 'hx-confirm="Delete the saved filter “Refunded”?"' in html
        assert listed(client.get(f"/console/orders?{preset.query}")) == [
            shop_orders["cancelled"].name
        ]

        deleted = client.post(
            f"/console/orders/presets/{preset_id}/delete", data={"query": "status=open"}
        )
        assert deleted.status_code == 303
        assert deleted.headers["Location"].endswith("/console/orders?status=open")
        assert db.session.get(SavedFilter, preset_id) is None
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_type == "saved_filter")
        ).all()
        assert actions == ["saved_filter.create", "saved_filter.delete"]

    def test_names_are_checked(self, client, login):
        login("support")
        assert (
            client.post("/console/orders/presets", data={"name": "Mine", "query": ""}).status_code
            == 303
        )
        for name, message in [
            ("mine", "You already have a saved filter called “mine”."),
            ("", "Give the filter a name."),
            ("x" * 81, "Use at most 80 characters for the name."),
        ]:
            response = client.post(
                "/console/orders/presets", data={"name": name, "query": "status=open"}
            )
            html = text(response)
            assert response.status_code == 422, name
            assert message in html
            msg = re.search(r'id="preset-name-msg" role="alert">([^<]*)<', html).group(1)
            assert message in msg
            assert 'value="status=open"' in html  # the list keeps the filter being saved

    def test_only_the_owner_sees_and_deletes(self, app, client, login, make_staff):
        login("support")
        client.post("/console/orders/presets", data={"name": "Mine", "query": "status=open"})
        preset = db.session.scalar(select(SavedFilter).where(SavedFilter.name == "Mine"))
        other = app.test_client()
        assert sign_in(other, make_staff("support")).status_code == 303
        assert ">Mine</a>" not in text(other.get("/console/orders"))
        assert other.post(f"/console/orders/presets/{preset.id}/delete").status_code == 404
        assert db.session.get(SavedFilter, preset.id) is not None

    def test_htmx_save_answers_with_a_location_and_a_toast(self, client, login):
        login("support")
        response = client.post(
            "/console/orders/presets",
            data={"name": "Open", "query": "?status=open&after=abc&junk=1"},
            headers=htmx_headers(),
        )
        assert response.status_code == 204
        assert response.headers["HX-Location"] == "/console/orders?status=open"
        assert "Saved the filter" in response.headers["HX-Trigger"]

    def test_get_after_a_failed_save_goes_back_to_the_list(self, client, login):
        login("support")
        response = client.get("/console/orders/presets")
        assert response.status_code == 302 and response.headers["Location"].endswith(
            "/console/orders"
        )

    def test_no_save_form_while_the_filter_is_wrong(self, client, login):
        login("support")
        assert 'action="/console/orders/presets"' not in text(client.get("/console/orders?from=x"))

    def test_csrf_is_required(self, app, client, login, monkeypatch):
        login("support")
        monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
        response = client.post("/console/orders/presets", data={"name": "x", "query": ""})
        assert response.status_code == 400
        assert db.session.scalar(select(SavedFilter).where(SavedFilter.name == "x")) is None
