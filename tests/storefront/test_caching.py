"""Catalog pages are shared-cacheable with an ETag; stock only comes from private fragments."""

from __future__ import annotations

import pytest

from tests.conftest import htmx_headers


@pytest.fixture
def catalog(active_product, make_category, stock):
    from commerce.catalog.taxonomy import add_to_collection, create_collection

    category = make_category("Kitchen")
    product = active_product("Steel Pan", category_id=category.id)
    stock(product.variants[0], 3)  # low: the fragment would say "Only 3 left"
    collection = create_collection(title="Cookware", by=None)
    add_to_collection(collection, [product.id], by=None)
    return {
        "home": "/",
        "category": f"/c/{category.handle}",
        "collection": f"/collections/{collection.handle}",
        "product": f"/products/{product.handle}",
        "search": "/search?q=pan",
        "variant": product.variants[0],
    }


@pytest.mark.parametrize("page", ["home", "category", "collection", "product", "search"])
def test_catalog_pages_are_public_with_etag_and_304(client, catalog, page):
    url = catalog[page]
    response = client.get(url)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    assert etag
    assert "Set-Cookie" not in response.headers  # no session: nothing per shopper
    body = response.get_data(as_text=True)
    assert "Only 3 left" not in body and ">In stock<" not in body
    assert "badge-low" not in body and "badge-in-stock" not in body
    assert "csrf" not in body.lower()

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""

    changed = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


def test_fragment_has_its_own_etag(client, catalog):
    page = client.get(catalog["category"])
    fragment = client.get(catalog["category"], headers=htmx_headers(**{"HX-Target": "listing"}))
    assert fragment.headers["ETag"] != page.headers["ETag"]
    assert fragment.headers["Cache-Control"] == "public, max-age=60"


def test_availability_is_private(client, catalog):
    response = client.get(f"/fragments/availability?variant={catalog['variant'].id}")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers
    assert "Only 3 left" in response.get_data(as_text=True)


def test_catalog_pages_do_not_vary_by_cookie_or_set_cookies(client, make_product):
    make_product("Shared lamp", status="active")
    response = client.get("/")
    assert response.status_code == 200
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
