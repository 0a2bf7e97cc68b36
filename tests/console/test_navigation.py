"""Whole pages for navigation (issue 16): a boosted link that inherits its list's hx-target, and
htmx restoring a page from history, both get the whole page, landed in <body>."""

from __future__ import annotations

from tests.conftest import htmx_headers


def test_a_boosted_link_inside_a_list_gets_the_whole_page_retargeted_to_body(
    client, login, make_product
) -> None:
    login("merchandiser")
    product = make_product("Boosted Lamp")
    response = client.get(
        f"/console/products/{product.id}",
        headers=htmx_headers(**{"HX-Boosted": "true", "HX-Target": "list"}),
    )
    assert response.status_code == 200
    assert 'class="sidebar"' in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "body"
    assert response.headers["HX-Reswap"].startswith("innerHTML")


def test_a_fragment_request_is_not_retargeted(client, login, make_product) -> None:
    login("merchandiser")
    make_product("Fragment Lamp")
    response = client.get("/console/products?q=fragment", headers=htmx_headers())
    assert response.get_data(as_text=True).lstrip().startswith('<div id="list">')
    assert "HX-Retarget" not in response.headers


def test_history_restore_gets_the_whole_page(client, login, make_product) -> None:
    login("merchandiser")
    make_product("Restored Lamp")
    response = client.get(
        "/console/products?q=restored",
        headers=htmx_headers(**{"HX-History-Restore-Request": "true"}),
    )
    body = response.get_data(as_text=True)
    assert 'class="sidebar"' in body and "Restored Lamp" in body
