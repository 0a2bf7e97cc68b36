"""The header search: a plain GET form, enhanced with htmx."""

from __future__ import annotations

from tests.conftest import htmx_headers


def text(response) -> str:
    return response.get_data(as_text=True)


def test_search_matches_title_vendor_tag_and_sku(client, active_product, make_product):
    active_product("Wool Scarf", vendor="Highland", tags=["winter"], sku="SCARF-01")
    active_product("Cotton Tee", vendor="Basics")
    make_product("Wool Draft")  # drafts never show

    assert "Wool Scarf" in text(client.get("/search?q=wool"))
    assert "Wool Draft" not in text(client.get("/search?q=wool"))
    assert "Wool Scarf" in text(client.get("/search?q=highland"))
    assert "Wool Scarf" in text(client.get("/search?q=winter"))
    assert "Wool Scarf" in text(client.get("/search?q=scarf-01"))
    body = text(client.get("/search?q=scarf+basics"))  # every word must match
    assert "No products match" in body


def test_search_empty_query_shows_the_form(client):
    body = text(client.get("/search"))
    assert 'id="search-page-q"' in body and "Results for" not in body


def test_search_htmx_from_header_returns_main_fragment(client, active_product):
    active_product("Rain Jacket")
    response = client.get("/search?q=rain", headers=htmx_headers(**{"HX-Target": "main"}))
    body = text(response)
    assert "Rain Jacket" in body and "Results for" in body and "<html" not in body


def test_search_keeps_query_in_filters_and_pager(client, active_product):
    for n in range(26):
        active_product(f"Pen {n:02d}")
    body = text(client.get("/search?q=pen&sort=title"))
    assert '<input type="hidden" name="q" value="pen">' in body
    assert "/search?q=pen&amp;sort=title&amp;page=2" in body
    assert "Pen 25" in text(client.get("/search?q=pen&sort=title&page=2"))


def test_history_restore_gets_the_full_page(client, active_product):
    active_product("Rain Jacket")
    headers = htmx_headers(**{"HX-History-Restore-Request": "true"})
    body = text(client.get("/search?q=rain", headers=headers))
    assert "<html" in body and "Rain Jacket" in body
