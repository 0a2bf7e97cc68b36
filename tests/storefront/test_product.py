"""The product page, its variant picker and gallery fragments, and availability."""

from __future__ import annotations

import pytest

from commerce.catalog.services import update_product, update_variant
from tests.conftest import htmx_headers


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def shirt(active_product, add_image):
    product = active_product(
        "Oxford Shirt",
        price=3000,
        options=[("Size", ["S", "M"]), ("Colour", ["White", "Blue"])],
        description="A **crisp** shirt.",
        seo_title="Oxford Shirt in cotton",
        seo_description="Our best-selling cotton shirt.",
    )
    add_image(product, alt="Oxford shirt in white", position=1)
    add_image(product, alt="Oxford shirt in blue", position=2)
    for variant in product.variants:
        if variant.option_values == ("M", "Blue"):
            update_variant(variant, price=3500, compare_at_price=4200, by=None)
    return product


def variant_of(product, *values):
    return next(v for v in product.variants if v.option_values == values)


def test_product_page(client, shirt):
    response = client.get(f"/products/{shirt.handle}")

    body = text(response)
    assert response.status_code == 200
    assert "<title>Oxford Shirt in cotton" in body
    assert '<meta name="description" content="Our best-selling cotton shirt.">' in body
    assert "<strong>crisp</strong>" in body  # sanitised HTML rendered as markup
    assert '<label for="option1">Size</label>' in body and 'name="option2"' in body
    # The form with its CSRF token comes from a private fragment; the cached page holds a
    # placeholder that loads it.
    assert 'hx-get="/cart/form?variant=' in body and "csrf_token" not in body
    variant = shirt.variants[0].id
    form = client.get(f"/cart/form?variant={variant}")
    assert form.headers["Cache-Control"] == "private, no-store"
    assert "Sold out" in text(form)  # no stock received: nothing to add
    assert 'alt="Oxford shirt in white"' in body
    assert body.count('class="thumbs"') == 1


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_hidden_products_are_404(client, shirt, status):
    update_product(shirt, status=status, by=None)
    assert client.get(f"/products/{shirt.handle}").status_code == 404


def test_unknown_product_is_404(client):
    assert client.get("/products/nothing-here").status_code == 404


def test_variant_picker_fragment(client, shirt):
    blue = variant_of(shirt, "M", "Blue")

    response = client.get(
        f"/products/{shirt.handle}?option1=M&option2=Blue",
        headers=htmx_headers(**{"HX-Target": "buy-box"}),
    )

    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body and "<h1" not in body
    assert "$35.00" in body and "$42.00" in body
    assert f"/fragments/availability?variant={blue.id}" in body
    assert f"/cart/form?variant={blue.id}" in body  # the add-to-cart form follows the variant
    # the variant's image (alt text names "Blue") swaps the gallery out of band
    assert 'hx-swap-oob="true"' in body and 'alt="Oxford shirt in blue"' in body


def test_variant_picker_without_js(client, shirt):
    body = text(client.get(f"/products/{shirt.handle}?option1=S&option2=White"))
    assert '<option value="S" selected>' in body and '<option value="White" selected>' in body
    assert "$30.00" in body


def test_missing_combination(client, shirt):
    from commerce.catalog.services import delete_variant

    delete_variant(variant_of(shirt, "S", "Blue"), by=None)
    body = text(
        client.get(
            f"/products/{shirt.handle}?option1=S&option2=Blue",
            headers=htmx_headers(**{"HX-Target": "buy-box"}),
        )
    )
    assert "This combination is not available." in body


def test_gallery_thumbnail_link_and_fragment(client, shirt):
    second = shirt.media[1]
    page = text(client.get(f"/products/{shirt.handle}?image={second.id}"))
    assert 'aria-current="true"' in page

    fragment = text(
        client.get(
            f"/products/{shirt.handle}?image={second.id}",
            headers=htmx_headers(**{"HX-Target": "gallery"}),
        )
    )
    assert "<h1" not in fragment and "gallery-main" in fragment
    assert 'alt="Oxford shirt in blue"' in fragment.split('class="thumbs"')[0]


def test_variant_availability_fragment(client, shirt, stock):
    white = variant_of(shirt, "S", "White")
    blue = variant_of(shirt, "M", "Blue")
    stock(white, 50)
    stock(blue, 2)

    response = client.get(f"/fragments/availability?variant={white.id}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "In stock" in text(response)

    assert "Only 2 left" in text(client.get(f"/fragments/availability?variant={blue.id}"))
    other = variant_of(shirt, "S", "Blue")
    assert "Sold out" in text(client.get(f"/fragments/availability?variant={other.id}"))


def test_grid_availability_fragment_is_out_of_band(client, active_product, stock):
    stocked = active_product("Stocked")
    empty = active_product("Empty")
    stock(stocked.variants[0], 10)

    body = text(client.get(f"/fragments/availability?product={stocked.id}&product={empty.id}"))

    assert f'id="avail-{stocked.id}" hx-swap-oob="true">In stock' in body
    assert f'id="avail-{empty.id}" hx-swap-oob="true">Sold out' in body


def test_availability_hides_draft_products(client, make_product, stock):
    draft = make_product("Unreleased")
    stock(draft.variants[0], 10)
    body = text(client.get(f"/fragments/availability?product={draft.id}"))
    assert "In stock" not in body
    assert client.get("/fragments/availability").status_code == 400
    assert client.get("/fragments/availability?variant=abc").status_code == 400
