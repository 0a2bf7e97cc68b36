"""The shop's search helpers over HTTP: suggestions while typing (a public fragment), the
analytics beacon (POST /search/events: CSRF-exempt but strict), the results page's beacon
data, and the no-results page (did-you-mean, popular products)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from commerce.extensions import db
from commerce.search.models import SearchEvent
from tests.conftest import htmx_headers

VISITOR = "0f3c9a6b2d8e4f1a"


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def events() -> list[SearchEvent]:
    return list(db.session.scalars(select(SearchEvent).order_by(SearchEvent.id)))


@pytest.fixture
def shop(active_product, make_category, stock, add_image):
    apparel = make_category("Apparel")
    tops = make_category("Tops", parent=apparel)
    kitchen = make_category("Kitchen")
    made = {
        "blue": active_product(
            "Blue T-Shirt",
            category_id=tops.id,
            price=1999,
            options=[("Size", ["S", "M", "L"])],
        ),
        "red": active_product("Red T-Shirt", category_id=tops.id, price=2499),
        "jeans": active_product("Blue Jeans", category_id=apparel.id, price=5999),
        "mug": active_product("Ceramic Mug", category_id=kitchen.id, price=1299),
    }
    stock(made["mug"].variants[0], 5)
    add_image(made["blue"], alt="A blue tee")
    return {"tops": tops, "kitchen": kitchen, **made}


# -- suggestions --------------------------------------------------------------------------------


def test_suggestions_show_products_with_thumbnails_prices_and_categories(client, shop):
    response = client.get("/search/suggest?q=tshrt", headers=htmx_headers())
    assert response.status_code == 200
    body = text(response)
    options = re.findall(r'<a class="suggest-option[^"]*" role="option"', body)
    assert len(options) == 4  # two T-shirts, their category, "see all"
    assert f"https://img.example.com/{shop['blue'].id}-1.jpg" in body  # the thumbnail
    assert "<mark>T-Shirt</mark>" in body and "$19.99" in body and "$24.99" in body
    assert f'href="/products/{shop["blue"].handle}"' in body
    clicks = re.findall(r'data-search-click data-product-id="(\d+)" data-position="(\d+)"', body)
    assert {int(pid) for pid, _ in clicks} == {shop["blue"].id, shop["red"].id}
    assert [pos for _, pos in clicks] == ["1", "2"]
    assert 'data-suggest-query="tshrt"' in body
    tops = shop["tops"]
    assert f'href="/search?q=tshrt&amp;category={tops.id}"' in body and "(2)" in body
    assert 'href="/search?q=tshrt"' in body and "See all results for “tshrt” (2)" in body
    assert "Ceramic Mug" not in body and "Blue Jeans" not in body


def test_suggestions_are_public_short_lived_and_hold_nothing_per_shopper(client, shop):
    response = client.get("/search/suggest?q=mug")
    assert response.headers["Cache-Control"] == "public, max-age=30"
    assert response.headers["ETag"] and "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    body = text(response)
    assert "csrf" not in body.lower() and "badge" not in body  # no stock, no token
    again = client.get("/search/suggest?q=mug", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("typed", ["", "t", "  m  "])
def test_under_two_characters_suggest_nothing(client, shop, typed):
    response = client.get("/search/suggest", query_string={"q": typed})
    assert response.status_code == 200 and text(response).strip() == ""


def test_a_word_with_no_match_still_offers_the_search(client, shop):
    body = text(client.get("/search/suggest?q=zzzz"))
    assert "No products match “zzzz” yet." in body
    assert 'role="option"' in body and 'href="/search?q=zzzz"' in body


def test_the_header_box_is_a_combobox_fed_by_htmx(client, shop):
    body = text(client.get("/"))
    box = re.search(r'<input type="search" id="site-search"[^>]*>', body, re.S).group(0)
    for attribute in (
        'role="combobox"',
        'aria-expanded="false"',
        'aria-controls="search-suggestions"',
        'aria-autocomplete="list"',
        'hx-get="/search/suggest"',
        'hx-trigger="input changed delay:200ms, search"',
        'hx-sync="this:replace"',
        'hx-target="#search-suggestions"',
    ):
        assert attribute in box
    assert '<div id="search-suggestions" class="suggest-box" role="listbox"' in body
    assert 'data-search-events="/search/events"' in body
    assert "/static/js/shop.js" in body  # on public pages too: it holds nothing per shopper


# -- the beacon ---------------------------------------------------------------------------------


def beacon(client: Any, **fields: str) -> Any:
    return client.post("/search/events", data=fields)


def test_a_search_and_a_click_are_recorded(client, shop):
    answer = beacon(client, kind="search", q="Blue  T-Shirt", results="2", visitor=VISITOR)
    assert answer.status_code == 204 and answer.get_data() == b""
    assert answer.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in answer.headers
    click = beacon(
        client, kind="click", q="tshrt", product=str(shop["blue"].id), position="1", visitor=VISITOR
    )
    assert click.status_code == 204
    search, opened = events()
    assert (search.kind, search.query, search.results) == ("search", "blue tshirt", 2)
    assert (opened.kind, opened.query, opened.product_id, opened.position) == (
        "click",
        "tshrt",
        shop["blue"].id,
        1,
    )
    assert search.visitor == opened.visitor and VISITOR not in search.visitor
    # No visitor (storage refused in the browser) is fine; punctuation alone is dropped.
    assert beacon(client, kind="search", q="mug", results="1").status_code == 204
    assert beacon(client, kind="search", q="?!", results="0").status_code == 204
    assert len(events()) == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "view", "q": "mug"},
        {"q": "mug", "results": "1"},
        {"kind": "search", "results": "1"},
        {"kind": "search", "q": "mug"},
        {"kind": "search", "q": "mug", "results": "-1"},
        {"kind": "search", "q": "mug", "results": "1.5"},
        {"kind": "search", "q": "mug", "results": "1", "product": "3"},  # not a search's field
        {"kind": "search", "q": "mug", "results": "1", "visitor": "bad visitor!"},
        {"kind": "search", "q": "x" * 201, "results": "1"},
        {"kind": "click", "q": "mug", "product": "3"},
        {"kind": "click", "q": "mug", "product": "3", "position": "0"},
        {"kind": "click", "q": "mug", "product": "abc", "position": "1"},
        {"kind": "click", "q": "mug", "product": "3", "position": "1", "results": "4"},
    ],
)
def test_bad_events_are_refused(client, shop, fields):
    answer = beacon(client, **fields)
    assert answer.status_code == 400
    assert answer.headers["Cache-Control"] == "no-store"
    assert events() == []


def test_the_beacon_is_strict_about_its_body(client, shop):
    repeated = client.post(
        "/search/events",
        data="kind=search&q=mug&q=cup&results=1",
        content_type="application/x-www-form-urlencoded",
    )
    assert repeated.status_code == 400
    as_json = client.post("/search/events", json={"kind": "search", "q": "mug", "results": 1})
    assert as_json.status_code == 400
    too_big = client.post(
        "/search/events", data={"kind": "search", "q": "mug", "results": "1", "pad": "x" * 2000}
    )
    assert too_big.status_code == 413
    cross_site = client.post(
        "/search/events",
        data={"kind": "search", "q": "mug", "results": "1"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403
    assert client.get("/search/events").status_code == 405
    assert events() == []


def test_the_beacon_needs_no_csrf_token_while_forms_still_do(app, client, shop, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    answer = beacon(client, kind="search", q="mug", results="1", visitor=VISITOR)
    assert answer.status_code == 204 and len(events()) == 1
    variant = shop["mug"].variants[0]
    refused = client.post("/cart/add", data={"variant_id": variant.id, "quantity": 1})
    assert refused.status_code == 400  # other posts still need their token


def test_the_beacon_is_rate_limited(app, client, shop, monkeypatch):
    from commerce.extensions import limiter

    monkeypatch.setitem(app.config, "SEARCH_EVENTS_RATE_LIMIT", "3 per minute")
    monkeypatch.setattr(limiter, "enabled", True)
    limiter.reset()
    answers = [beacon(client, kind="search", q="mug", results="1").status_code for _ in range(4)]
    assert answers == [204, 204, 204, 429]
    assert len(events()) == 3
    limiter.reset()


# -- the results page ---------------------------------------------------------------------------


def test_results_carry_what_the_beacon_sends(client, active_product):
    for n in range(26):
        active_product(f"Pen {n:02d}", price=100 + n)
    first = text(client.get("/search?q=pen&sort=price-asc"))
    assert "data-search-record" in first
    assert 'data-search-query="pen" data-search-results="26"' in first
    positions = re.findall(r'data-search-click data-product-id="\d+" data-position="(\d+)"', first)
    assert positions == [str(n) for n in range(1, 25)]
    second = text(client.get("/search?q=pen&sort=price-asc&page=2"))
    assert "data-search-record" not in second  # paging is not a new search
    positions = re.findall(r'data-position="(\d+)"', second)
    assert positions == ["25", "26"]  # positions count across pages
    filtered = text(client.get("/search?q=pen&min=1.10"))
    assert "data-search-record" not in filtered  # nor is filtering


def test_no_results_offer_a_correction_and_popular_products(client, shop):
    response = client.get("/search?q=blu+jens")
    body = text(response)
    assert "No products match “blu jens”" in body
    assert 'Did you mean <a href="/search?q=blue+jeans">blue jeans</a>?' in body
    assert "Popular right now" in body
    popular = re.findall(r'<span class="card-title">(.*?)</span>', body)
    assert popular[0] == "Ceramic Mug"  # the only product in stock comes first
    assert set(popular) == {"Ceramic Mug", "Blue T-Shirt", "Red T-Shirt", "Blue Jeans"}
    assert response.headers["Cache-Control"] == "public, max-age=60"  # still shared
    assert "data-search-click" not in body  # popular products are not results of the query
    # The correction finds what it promises.
    assert "<mark>Blue</mark> <mark>Jeans</mark>" in text(client.get("/search?q=blue+jeans"))


def test_no_did_you_mean_when_nothing_is_close(client, shop):
    body = text(client.get("/search?q=zzzz"))
    assert "No products match “zzzz”" in body and "Did you mean" not in body
    assert "Popular right now" in body  # never a dead end


def test_filters_that_match_nothing_suggest_clearing_them(client, shop):
    body = text(client.get("/search?q=tshirt&max=1"))
    assert "No products match these filters" in body
    assert "Did you mean" not in body and "Popular right now" not in body


def test_an_unreachable_search_engine_leaves_the_box_usable(tmp_path):
    """Meilisearch down: no suggestions (and nothing cached), never an error in the box."""
    from tests.conftest import base_config
    from wsgi import create_app

    down = create_app(base_config(tmp_path, MEILISEARCH_URL="http://127.0.0.1:9"))
    with down.app_context():
        db.create_all()
        response = down.test_client().get("/search/suggest?q=mug")
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["Cache-Control"] == "private, no-store"
