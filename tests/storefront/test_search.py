"""The search results page: the search port behind a plain GET form, enhanced with htmx.

Query, facet filters, sort and page live in the URL; the page is the same for every shopper.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import htmx_headers


def text(response) -> str:
    return response.get_data(as_text=True)


def titles(body: str) -> list[str]:
    """Card titles in page order, highlighting removed."""
    found = re.findall(r'<span class="card-title">(.*?)</span>', body)
    return [re.sub(r"</?mark>", "", t) for t in found]


@pytest.fixture
def shop(active_product, make_product, make_category, stock):
    kitchen = make_category("Kitchen")
    garden = make_category("Garden")
    made = {
        "pan": active_product(
            "Steel Frying Pan", vendor="Forge", category_id=kitchen.id, price=3500, sku="PAN-1"
        ),
        "wok": active_product(
            "Carbon Steel Wok", vendor="Forge", category_id=kitchen.id, price=4500
        ),
        "pot": active_product(
            "Steel Stock Pot", vendor="Hearth", category_id=kitchen.id, price=2500
        ),
        "shears": active_product(
            "Steel Garden Shears", vendor="Hearth", category_id=garden.id, price=1500
        ),
        "draft": make_product("Steel Draft Kettle", vendor="Forge", category_id=kitchen.id),
    }
    stock(made["pan"].variants[0], 4)
    return {"kitchen": kitchen, "garden": garden, **made}


def test_search_finds_products_with_typos_and_highlights_them(client, shop):
    body = text(client.get("/search?q=steal"))  # one typo
    assert sorted(titles(body)) == [
        "Carbon Steel Wok",
        "Steel Frying Pan",
        "Steel Garden Shears",
        "Steel Stock Pot",
    ]
    assert "Steel Draft Kettle" not in body  # drafts never show
    assert "<mark>Steel</mark> Frying Pan" in body
    assert "4 products" in body
    assert titles(text(client.get("/search?q=fryin"))) == ["Steel Frying Pan"]  # a prefix
    assert titles(text(client.get("/search?q=PAN-1"))) == ["Steel Frying Pan"]  # a SKU


def test_filter_by_a_facet_sort_and_page(client, shop):
    body = text(client.get("/search?q=steel"))
    kitchen = shop["kitchen"]
    # The facets show counts and carry their value in the form.
    assert f'name="category" value="{kitchen.id}"' in body
    assert re.search(r"Kitchen <span class=\"facet-count\">\(3\)</span>", body)
    assert re.search(r"Forge <span class=\"facet-count\">\(2\)</span>", body)

    filtered = text(client.get(f"/search?q=steel&category={kitchen.id}&sort=price-asc"))
    assert titles(filtered) == ["Steel Stock Pot", "Steel Frying Pan", "Carbon Steel Wok"]
    assert f'name="category" value="{kitchen.id}" checked' in filtered

    by_vendor = text(client.get("/search?q=steel&vendor=Hearth&sort=price-desc"))
    assert titles(by_vendor) == ["Steel Stock Pot", "Steel Garden Shears"]

    in_stock = text(client.get("/search?q=steel&in_stock=1"))
    assert titles(in_stock) == ["Steel Frying Pan"]


def test_pages_keep_the_query_filters_and_sort(client, active_product):
    for n in range(26):
        active_product(f"Pen {n:02d}", price=100 + n)
    first = text(client.get("/search?q=pen&sort=price-asc"))
    assert '<input type="hidden" name="q" value="pen">' in first
    assert "/search?q=pen&amp;sort=price-asc&amp;page=2" in first
    assert "Page 1 of 2" in first and len(titles(first)) == 24
    second = text(client.get("/search?q=pen&sort=price-asc&page=2"))
    assert titles(second) == ["Pen 24", "Pen 25"]
    assert "/search?q=pen&amp;sort=price-asc" in second and 'rel="prev"' in second
    assert titles(text(client.get("/search?q=pen&sort=price-asc&page=9"))) == ["Pen 24", "Pen 25"]


def test_results_are_public_and_hold_nothing_per_shopper(client, shop):
    response = client.get("/search?q=steel")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["ETag"] and "Set-Cookie" not in response.headers
    body = text(response)
    assert "csrf" not in body.lower() and "badge-in-stock" not in body
    assert "/fragments/availability?product=" in body  # stock arrives privately
    again = client.get("/search?q=steel", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_htmx_gets_fragments(client, shop):
    main = text(client.get("/search?q=wok", headers=htmx_headers(**{"HX-Target": "main"})))
    assert "Results for" in main and "<html" not in main
    assert titles(main) == ["Carbon Steel Wok"]
    results = text(
        client.get(
            "/search?q=steel&vendor=Forge", headers=htmx_headers(**{"HX-Target": "search-results"})
        )
    )
    assert "<h1>" not in results and "<html" not in results
    assert sorted(titles(results)) == ["Carbon Steel Wok", "Steel Frying Pan"]
    restore = htmx_headers(**{"HX-History-Restore-Request": "true"})
    assert "<html" in text(client.get("/search?q=wok", headers=restore))


def test_empty_query_shows_the_form_and_no_match_says_so(client, shop):
    body = text(client.get("/search"))
    assert 'id="search-page-q"' in body and "Results for" not in body
    assert "No products match “zzzz”" in text(client.get("/search?q=zzzz"))
    none = text(client.get("/search?q=steel&vendor=Nobody"))
    assert "No products match these filters" in none and "Clear filters" in none


def test_bad_arguments_are_ignored_with_a_note(client, shop):
    body = text(client.get("/search?q=steel&min=abc&sort=bogus&page=x&category=nope"))
    assert "is not an amount; it was ignored" in body
    assert len(titles(body)) == 4
