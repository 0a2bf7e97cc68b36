"""Guest buyers appear in Customers (issue 16: 11): one row per email of orders placed without
an account, with their count and a link to their orders; accounts stay in their own list."""

from __future__ import annotations

import re

from tests.conftest import htmx_headers


def test_guests_are_listed_by_email_with_their_orders(client, login, place) -> None:
    login("support")
    place(email="guest.one@example.com")
    place(1, email="guest.one@example.com")
    place(email="guest.two@example.com")

    accounts = client.get("/console/customers").get_data(as_text=True)
    assert "guest.one@example.com" not in accounts
    assert 'href="/console/customers?who=guests"' in accounts  # the way to them

    page = client.get("/console/customers?who=guests")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "guest.one@example.com" in html and "guest.two@example.com" in html
    assert html.index("guest.one@example.com") < html.index("guest.two@example.com")
    assert "2 guests" in html
    assert 'href="/console/orders?email=guest.one@example.com"' in html
    row = html.split("guest.one@example.com", 1)[1]
    assert '<td class="num">2</td>' in row.split("</tr>", 1)[0]

    found = client.get("/console/customers?who=guests&q=two", headers=htmx_headers())
    body = found.get_data(as_text=True)
    assert "guest.two@example.com" in body and "guest.one@example.com" not in body


def test_guest_pages_walk_by_email(client, login, place, app, monkeypatch) -> None:
    login("support")
    for n in range(3):
        place(1, email=f"walker{n}@example.com")
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    first = client.get("/console/customers?who=guests").get_data(as_text=True)
    assert "walker0@" in first and "walker1@" in first and "walker2@" not in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).get_data(as_text=True)
    assert "walker2@" in second and "walker0@" not in second
