"""The console dashboard through HTTP: which panels each role sees and what they count, the
jobs panel, and the refund approval queue its refunds tile links to."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from commerce.db import utcnow
from commerce.extensions import db
from commerce.jobs import RUNNING, SUCCEEDED, create_job
from commerce.orders.models import CANCELLED, FULFILLED, PARTIALLY_FULFILLED
from tests.commerce.orders.test_queries import add_refund, build_order
from tests.conftest import htmx_headers

PANEL_IDS = ("orders-today", "revenue-today", "to-fulfill", "refunds-waiting", "low-stock", "jobs")
SEEN = {
    "admin": set(PANEL_IDS),
    "support": {"orders-today", "revenue-today", "refunds-waiting"},
    "warehouse": {"to-fulfill", "low-stock", "jobs"},  # bulk packing slips are their jobs
    "merchandiser": {"low-stock", "jobs"},
}


def text(response) -> str:
    return response.get_data(as_text=True)


def tile_number(html: str, panel: str) -> str:
    match = re.search(rf'id="{panel}"[^>]*>\s*<span class="tile-num">([^<]*)</span>', html)
    assert match, panel
    return match.group(1)


@pytest.mark.parametrize("role", sorted(SEEN))
def test_each_role_sees_its_panels(client, login, role):
    login(role)
    response = client.get("/console/")
    html = text(response)
    assert response.status_code == 200
    shown = {panel for panel in PANEL_IDS if f'id="{panel}"' in html}
    assert shown == SEEN[role]


def test_todays_orders_and_revenue_in_the_shop_time_zone(
    app, client, login, checkout_shop, monkeypatch
):
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "Pacific/Kiritimati")  # UTC+14
    today = build_order(checkout_shop, quantity=1)
    also = build_order(checkout_shop, quantity=2)
    build_order(checkout_shop, quantity=3, status=CANCELLED)
    build_order(checkout_shop, quantity=1, placed_at=utcnow() - timedelta(days=2))
    login("support")
    html = text(client.get("/console/"))
    assert tile_number(html, "orders-today") == "3"
    assert "(1 cancelled)" in html
    assert tile_number(html, "revenue-today") == f"${(today.total + also.total) / 100:,.2f}"
    local_today = (utcnow() + timedelta(hours=14)).date().isoformat()
    assert f"/console/orders?from={local_today}&amp;to={local_today}" in html
    assert "Pacific/Kiritimati" in html


def test_waiting_to_fulfill(client, login, checkout_shop):
    build_order(checkout_shop)
    build_order(checkout_shop, fulfillment_status=PARTIALLY_FULFILLED)
    build_order(checkout_shop, fulfillment_status=FULFILLED)
    build_order(checkout_shop, status=CANCELLED)
    login("warehouse")
    html = text(client.get("/console/"))
    assert tile_number(html, "to-fulfill") == "2"
    link = re.search(r'<a class="tile" id="to-fulfill" href="([^"]+)"', html).group(1)
    listing = client.get(link.replace("&amp;", "&"))
    assert listing.status_code == 200
    assert len(re.findall(r'<tr data-href="/console/orders/\d+">', text(listing))) == 2


class TestRefundApprovals:
    def test_tile_links_to_the_queue_for_admins_only(self, client, login, checkout_shop):
        order = build_order(checkout_shop)
        add_refund(order)
        add_refund(order)
        login("support")
        html = text(client.get("/console/"))
        assert tile_number(html, "refunds-waiting") == "2"
        assert 'href="/console/refunds/approvals"' not in html
        client.post("/console/logout")
        login("admin")
        html = text(client.get("/console/"))
        assert '<a class="tile" id="refunds-waiting" href="/console/refunds/approvals">' in html

    def test_queue_lists_waiting_refunds(self, client, login, checkout_shop, make_staff):
        agent = make_staff("support", name="Sam Support")
        order = build_order(checkout_shop, name="Ada Lovelace")
        add_refund(
            order,
            amount=4200,
            reason="Arrived broken",
            requested_by_id=agent.id,
            created_at=utcnow() - timedelta(days=3),
        )
        add_refund(order, status="succeeded", reason="Already paid back")
        login("admin")
        response = client.get("/console/refunds/approvals")
        html = text(response)
        assert response.status_code == 200 and 'class="sidebar"' in html
        assert f'<tr data-href="/console/orders/{order.id}">' in html
        assert f">{order.name}</a>" in html
        assert "$42.00" in html and "Arrived broken" in html and "Sam Support" in html
        assert ">3 d</time>" in html and "Overdue" in html
        assert "Already paid back" not in html
        fragment = text(client.get("/console/refunds/approvals", headers=htmx_headers()))
        assert fragment.lstrip().startswith('<div id="list">') and "Arrived broken" in fragment

    def test_empty_queue(self, client, login):
        login("admin")
        assert "Nothing to approve" in text(client.get("/console/refunds/approvals"))


class TestJobs:
    def test_panel_shows_recent_jobs_with_their_state(self, client, login, make_staff):
        someone = make_staff("admin")
        done = create_job("catalog_import", title="Import spring.csv", params={}, by=someone)
        done.status, done.total, done.done = SUCCEEDED, 10, 10
        running = create_job("catalog_import", title="Import summer.csv", params={}, by=someone)
        running.status, running.total, running.done = RUNNING, 40, 10
        db.session.commit()
        login("merchandiser")
        html = text(client.get("/console/"))
        panel = html[html.index('<section class="card" id="jobs"') :]
        assert 'hx-get="/console/dashboard/jobs"' in panel.split(">")[0]  # polls while running
        assert "Import spring.csv" in panel and "Import summer.csv" in panel
        assert '<span class="badge badge-running">running</span>' in panel
        assert '<progress max="100" value="25"' in panel
        assert f'href="/console/jobs/{done.id}"' in panel

    def test_fragment_shows_only_jobs_one_may_watch(self, client, login, make_staff):
        someone = make_staff("admin")
        create_job("catalog_import", title="Not yours", params={}, by=someone)
        me = login("warehouse")
        create_job("report", title="My report", params={}, by=me)
        response = client.get("/console/dashboard/jobs", headers=htmx_headers())
        body = text(response)
        assert response.status_code == 200 and body.lstrip().startswith(
            '<section class="card" id="jobs"'
        )
        assert "My report" in body and "Not yours" not in body
        assert 'hx-get="/console/dashboard/jobs"' in body  # still queued: keeps polling
        plain = client.get("/console/dashboard/jobs")
        assert plain.status_code == 302 and plain.headers["Location"].endswith("/console/")


def test_low_stock_panel_still_loads_for_warehouse(client, login):
    login("warehouse")
    html = text(client.get("/console/"))
    assert 'hx-get="/console/low-stock"' in html
    panel = text(client.get("/console/low-stock", headers=htmx_headers()))
    assert panel.lstrip().startswith('<section class="card" id="low-stock">')
