"""Shared shop pages name what they show in surrogate-key headers (xkey, Surrogate-Key,
Cache-Tag), with an edge lifetime only when an edge cache that gets purges is configured."""

from __future__ import annotations

import pytest

from tests.conftest import htmx_headers


@pytest.fixture
def catalog(active_product, make_category, stock):
    from commerce.catalog.taxonomy import add_to_collection, create_collection

    category = make_category("Kitchen")
    pan = active_product("Steel Pan", category_id=category.id)
    lid = active_product("Steel Lid", category_id=category.id)
    stock(pan.variants[0], 3)
    collection = create_collection(title="Cookware", by=None)
    add_to_collection(collection, [pan.id], by=None)
    return {"category": category, "pan": pan, "lid": lid, "collection": collection}


def keys(response) -> set[str]:
    xkey = response.headers["xkey"].split()
    assert response.headers["Surrogate-Key"].split() == xkey
    assert response.headers["Cache-Tag"].split(",") == xkey
    assert xkey[0] == "catalog"
    return set(xkey)


def test_each_shared_page_names_what_it_shows(client, catalog):
    pan, lid = catalog["pan"], catalog["lid"]
    category, collection = catalog["category"], catalog["collection"]

    home = client.get("/")
    assert {"catalog", "home", f"product-{pan.id}", f"product-{lid.id}"} <= keys(home)
    assert f"collection-{collection.id}" in keys(home)  # a featured collection

    listing = client.get(f"/c/{category.handle}")
    assert keys(listing) == {
        "catalog",
        f"category-{category.id}",
        f"product-{pan.id}",
        f"product-{lid.id}",
    }
    fragment = client.get(f"/c/{category.handle}", headers=htmx_headers(**{"HX-Target": "listing"}))
    assert keys(fragment) == keys(listing)

    assert keys(client.get(f"/collections/{collection.handle}")) == {
        "catalog",
        f"collection-{collection.id}",
        f"product-{pan.id}",
    }
    assert keys(client.get(f"/products/{pan.handle}")) == {
        "catalog",
        f"product-{pan.id}",
        f"category-{category.id}",
    }
    assert {"catalog", "search", f"product-{pan.id}"} <= keys(client.get("/search?q=pan"))
    assert {"catalog", "search", f"product-{pan.id}"} <= keys(client.get("/search/suggest?q=pan"))


def test_edge_lifetime_only_with_an_edge_cache(client, catalog, app, monkeypatch):
    url = f"/products/{catalog['pan'].handle}"
    plain = client.get(url)
    assert plain.headers["Cache-Control"] == "public, max-age=60"
    assert "Surrogate-Control" not in plain.headers  # nobody would purge it: a minute at most

    monkeypatch.setitem(app.config, "EDGE_CACHE", "varnish")
    monkeypatch.setitem(app.config, "EDGE_PURGE_URLS", ["http://127.0.0.1:9/"])
    edge = client.get(url)
    assert edge.headers["Cache-Control"] == "public, max-age=60"  # browsers: unchanged
    assert edge.headers["Surrogate-Control"] == f"max-age={app.config['EDGE_MAX_AGE']}"
    search = client.get("/search?q=pan")
    assert search.headers["Surrogate-Control"] == f"max-age={app.config['EDGE_SEARCH_MAX_AGE']}"


def test_a_shared_cache_keeps_the_page_and_each_fragment_apart(client, catalog):
    """Every request header that picks the page or a fragment is named in Vary."""
    url = f"/c/{catalog['category'].handle}"
    page = client.get(url)
    fragment = client.get(url, headers=htmx_headers(**{"HX-Target": "listing"}))
    restore = client.get(url, headers=htmx_headers(**{"HX-History-Restore-Request": "true"}))
    assert "results-count" in fragment.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    assert "<html" in restore.get_data(as_text=True) and "<html" in page.get_data(as_text=True)
    vary = {v.strip().lower() for v in page.headers["Vary"].split(",")}
    assert {"hx-request", "hx-target", "hx-boosted", "hx-history-restore-request"} <= vary


def test_private_pages_carry_no_keys(client, catalog):
    for url in ("/cart", f"/fragments/availability?variant={catalog['pan'].variants[0].id}"):
        response = client.get(url)
        assert "xkey" not in response.headers and "Surrogate-Control" not in response.headers


def test_a_shopper_with_a_session_gets_the_shared_page_without_cookies(client, catalog):
    client.post("/cart/add", data={"variant_id": catalog["pan"].variants[0].id, "quantity": 1})
    assert client.get_cookie("session") is not None
    page = client.get(f"/products/{catalog['pan'].handle}")
    assert "Set-Cookie" not in page.headers
    assert "Cookie" not in page.headers.get("Vary", "")
    assert "xkey" in page.headers


def test_edge_settings_are_checked_at_start(tmp_path):
    from commerce.config import load_config

    with pytest.raises(ValueError, match="EDGE_PURGE_URLS"):
        load_config({"INSTANCE_PATH": str(tmp_path), "EDGE_CACHE": "varnish"})
    with pytest.raises(ValueError, match="none or varnish"):
        load_config({"INSTANCE_PATH": str(tmp_path), "EDGE_CACHE": "fastly"})
    config = load_config(
        {
            "INSTANCE_PATH": str(tmp_path),
            "EDGE_CACHE": "varnish",
            "EDGE_PURGE_URLS": "http://10.0.0.5:6081/, http://10.0.0.6:6081/",
        }
    )
    assert config["EDGE_PURGE_URLS"] == ["http://10.0.0.5:6081/", "http://10.0.0.6:6081/"]
