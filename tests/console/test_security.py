"""CSRF on every POST, security headers, and error pages in the console's look."""

from __future__ import annotations

import re

import pytest


def test_security_headers(client):
    response = client.get("/console/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_no_inline_scripts_or_styles(client, login, make_product):
    login("admin")
    product = make_product(options=[("Size", ["S", "M"])])
    for url in [
        "/console/",
        "/console/products",
        f"/console/products/{product.id}",
        "/console/staff",
        "/console/audit",
    ]:
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert ' style="' not in html, url


def test_post_without_csrf_token_is_refused(app, client, login, make_product, monkeypatch):
    login("merchandiser")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    product = make_product()
    response = client.post(f"/console/products/{product.id}", data={"title": "Hacked"})
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)


def test_htmx_sends_the_token_in_a_header(app, client, login, make_product, monkeypatch):
    login("merchandiser")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    product = make_product(price=1000)
    page = client.get(f"/console/products/{product.id}").get_data(as_text=True)
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    url = f"/console/variants/{product.variants[0].id}/cells/price"
    assert (
        client.post(url, data={"value": "12.00"}, headers={"HX-Request": "true"}).status_code == 400
    )
    ok = client.post(
        url, data={"value": "12.00"}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert ok.status_code == 200
    assert product.variants[0].price == 1200


@pytest.mark.parametrize(
    ("role", "url", "status", "text"),
    [
        ("support", "/console/staff", 403, "Not allowed"),
        ("admin", "/console/products/999999", 404, "Not found"),
        ("admin", "/console/no-such-page", 404, "Not found"),
    ],
)
def test_error_pages_use_the_console_layout(client, login, role, url, status, text):
    login(role)
    response = client.get(url)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert text in html and 'class="sidebar"' in html


def test_server_error_page(tmp_path):
    from tests.conftest import base_config
    from wsgi import create_app

    app = create_app(base_config(tmp_path, PROPAGATE_EXCEPTIONS=False))

    @app.route("/console/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/console/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html and "boom" not in html
