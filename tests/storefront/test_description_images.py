"""Images in product descriptions (the probe's replay: a tracking pixel from any host): the
sanitizer keeps our own media and the merchant's IMAGE_HOSTS and drops the rest, and the
Content-Security-Policy's img-src allows only those, so even a description saved before the
rule cannot load an image from elsewhere."""

from __future__ import annotations

import pytest

from commerce.catalog.models import HTML
from commerce.catalog.services import update_product
from commerce.catalog.text import render_description

PIXEL = '<p>Soft cotton</p><img src="https://tracker.example.net/p.gif?u=1" alt="pixel">'


@pytest.fixture
def hosts(app, monkeypatch):
    monkeypatch.setitem(app.config, "IMAGE_HOSTS", ["cdn.example.com"])
    monkeypatch.setitem(app.config, "SHOP_URL", "https://shop.example.org")


def test_a_tracking_pixel_in_a_description_does_not_reach_the_shop(hosts, client, make_product):
    product = make_product("Tee", status="active")
    update_product(product, by=None, description=PIXEL, description_format=HTML)
    page = client.get(f"/products/{product.handle}")
    html = page.get_data(as_text=True)
    assert "Soft cotton" in html
    assert "tracker.example.net" not in html
    csp = page.headers["Content-Security-Policy"]
    assert "img-src 'self' data: cdn.example.com;" in csp
    assert "https:" not in csp and "http:" not in csp


@pytest.mark.parametrize(
    ("src", "kept"),
    [
        ("/media/products/1/a.jpg", True),
        ("https://cdn.example.com/a.jpg", True),
        ("https://shop.example.org/media/a.jpg", True),
        ("http://CDN.example.com/a.jpg", True),
        ("https://tracker.example.net/p.gif", False),
        ("https://cdn.example.com.evil.net/a.jpg", False),
        ("https://evil.net/cdn.example.com/a.jpg", False),
        ("//tracker.example.net/p.gif", False),
        ("https://user@tracker.example.net/p.gif", False),
        ("javascript:alert(1)", False),
        ("data:image/gif;base64,R0lGODlh", False),
    ],
)
def test_only_our_media_and_allowed_hosts_keep_their_images(hosts, src, kept):
    html = render_description(f'<img src="{src}" alt="x">', HTML)
    assert ("src=" in html) is kept, html


def test_markdown_images_follow_the_same_rule(hosts):
    html = render_description(
        "![a](https://cdn.example.com/a.jpg) ![b](https://tracker.example.net/b.gif)", "markdown"
    )
    assert "cdn.example.com/a.jpg" in html and "tracker.example.net" not in html


def test_without_image_hosts_only_our_media_loads(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "IMAGE_HOSTS", [])
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in csp
