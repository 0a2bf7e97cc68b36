"""The checkout line in the console: the dashboard panel (in checkout, in line, admitted per
minute) that reloads itself, and the capacity changed live by an admin, audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.crowd import crowd_state
from commerce.extensions import db
from tests.conftest import htmx_headers, waiting_address
from tests.storefront.test_cart_checkout import add


def text(response) -> str:
    return response.get_data(as_text=True)


def tile(html: str, panel: str) -> str:
    match = re.search(rf'id="{panel}"[^>]*>\s*<span class="tile-num">([\d,]+)', html)
    assert match, panel
    return match.group(1)


def crowd(app, variant_id: int, n: int) -> list:
    """n shoppers pressing "Check out"."""
    answers = []
    for _ in range(n):
        browser = app.test_client()
        add(browser, variant_id)
        answers.append(browser.post("/checkout"))
    return answers


def test_the_dashboard_shows_the_line_while_a_sale_runs(app, client, login, checkout_shop):
    crowd_state().set_capacity(2)
    crowd(app, checkout_shop.small, 5)
    login("admin")
    html = text(client.get("/console/"))
    assert (tile(html, "line-inside"), tile(html, "line-waiting")) == ("2", "3")
    assert tile(html, "line-admitted") == "2"
    assert 'hx-get="/console/dashboard/checkout-queue"' in html  # reloads itself

    panel = client.get("/console/dashboard/checkout-queue", headers=htmx_headers())
    assert panel.status_code == 200 and text(panel).startswith('<section class="card" id="chec')
    plain = client.get("/console/dashboard/checkout-queue")
    assert plain.status_code == 302 and plain.location.endswith("/console/settings/checkout-queue")


@pytest.mark.parametrize("role", ["merchandiser", "warehouse", "support"])
def test_only_admins_see_and_steer_the_line(client, login, role):
    login(role)
    assert 'id="checkout-line"' not in text(client.get("/console/"))
    assert client.get("/console/settings/checkout-queue").status_code == 403
    changed = client.post("/console/settings/checkout-queue", data={"capacity": "5"})
    assert changed.status_code == 403
    assert crowd_state().capacity() == 100  # unchanged


def test_the_capacity_is_changed_live_and_audited(app, client, login, checkout_shop):
    admin = login("admin")
    page = client.get("/console/settings/checkout-queue")
    assert page.status_code == 200 and 'value="100"' in text(page)

    refused = client.post("/console/settings/checkout-queue", data={"capacity": "lots"})
    assert refused.status_code == 422 and "Enter a whole number" in text(refused)
    assert crowd_state().capacity() == 100

    saved = client.post("/console/settings/checkout-queue", data={"capacity": "1"})
    assert saved.status_code == 303
    assert "1 shoppers may now be in checkout" in text(client.get(saved.location))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action.like("checkout_queue%")))
    assert (entry.actor_id, entry.before, entry.after) == (
        admin.id,
        {"capacity": 100},
        {"capacity": 1},
    )
    # The shop uses it at once: one in, the next one waits.
    first, second = crowd(app, checkout_shop.small, 2)
    assert first.location.endswith("/information")
    assert waiting_address(second).startswith("/checkout/queue?ticket=")

    toast = client.post(
        "/console/settings/checkout-queue", data={"capacity": "0"}, headers=htmx_headers()
    )
    assert toast.status_code == 204 and "line is off" in toast.headers["HX-Trigger"]
    assert crowd(app, checkout_shop.small, 1)[0].location.endswith("/information")
