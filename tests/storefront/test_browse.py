"""Home, category and collection pages through HTTP, with and without htmx."""

from __future__ import annotations

from commerce.catalog.taxonomy import add_to_collection, create_collection
from tests.conftest import htmx_headers


def text(response) -> str:
    return response.get_data(as_text=True)


def test_home_shows_new_in_and_featured_collections(client, active_product, make_product):
    shown = active_product("Linen Shirt")
    make_product("Secret Draft")  # a draft never appears
    collection = create_collection(title="Summer", by=None)
    add_to_collection(collection, [shown.id], by=None)

    response = client.get("/")

    assert response.status_code == 200
    body = text(response)
    assert "New in" in body and "Linen Shirt" in body
    assert "Secret Draft" not in body
    assert "/collections/summer" in body
    assert '<main id="main"' in body and 'role="search"' in body


def test_home_empty_state(client):
    assert "The shop opens soon." in text(client.get("/"))


def test_category_includes_subcategories_products(
    client, active_product, make_category, make_product
):
    shoes = make_category("Shoes")
    boots = make_category("Boots", parent=shoes)
    active_product("Trail Runner", category_id=shoes.id)
    active_product("Winter Boot", category_id=boots.id)
    active_product("Elsewhere Hat")
    make_product("Draft Sandal", category_id=shoes.id)

    response = client.get(f"/c/{shoes.handle}")

    body = text(response)
    assert response.status_code == 200
    assert "Trail Runner" in body and "Winter Boot" in body
    assert "Elsewhere Hat" not in body and "Draft Sandal" not in body
    assert f"/c/{boots.handle}" in body  # subcategory link
    assert "2 products" in body


def test_category_unknown_is_404(client):
    assert client.get("/c/no-such-thing").status_code == 404


def test_category_empty_state(client, make_category):
    empty = make_category("Empty")
    assert "Nothing here yet" in text(client.get(f"/c/{empty.handle}"))


def test_sort_and_filters_are_in_the_url(client, active_product, make_category):
    cat = make_category("Tees")
    active_product("Cheap Tee", price=500, category_id=cat.id, options=[("Size", ["S", "M"])])
    active_product("Mid Tee", price=2000, category_id=cat.id, options=[("Size", ["L"])])
    active_product("Dear Tee", price=9000, category_id=cat.id, options=[("Size", ["M"])])

    body = text(client.get(f"/c/{cat.handle}?sort=price-desc"))
    assert body.index("Dear Tee") < body.index("Mid Tee") < body.index("Cheap Tee")
    assert '<option value="price-desc" selected>' in body

    body = text(client.get(f"/c/{cat.handle}?sort=price-asc"))
    assert body.index("Cheap Tee") < body.index("Mid Tee") < body.index("Dear Tee")

    body = text(client.get(f"/c/{cat.handle}?sort=title"))
    assert body.index("Cheap Tee") < body.index("Dear Tee") < body.index("Mid Tee")

    body = text(client.get(f"/c/{cat.handle}?min=10&max=50"))
    assert "Mid Tee" in body and "Cheap Tee" not in body and "Dear Tee" not in body
    assert 'value="10.00"' in body and 'value="50.00"' in body

    # option values come from the products in view; filtering keeps the facet list whole
    body = text(client.get(f"/c/{cat.handle}?opt=Size:M"))
    assert "Cheap Tee" in body and "Dear Tee" in body and "Mid Tee" not in body
    assert 'value="Size:M" checked' in body and 'value="Size:L"' in body

    body = text(client.get(f"/c/{cat.handle}?opt=Size:M&opt=Size:L"))
    assert "3 products" in body

    body = text(client.get(f"/c/{cat.handle}?min=lots"))
    assert "is not an amount" in body and "3 products" in body


def test_filters_empty_state(client, active_product, make_category):
    cat = make_category("Bags")
    active_product("Tote", price=1000, category_id=cat.id)
    body = text(client.get(f"/c/{cat.handle}?min=500"))
    assert "No products match these filters." in body


def test_in_stock_only(client, active_product, make_category, stock):
    cat = make_category("Mugs")
    stocked = active_product("Stocked Mug", category_id=cat.id)
    active_product("Empty Mug", category_id=cat.id)
    stock(stocked.variants[0], 4)

    body = text(client.get(f"/c/{cat.handle}?in_stock=1"))

    assert "Stocked Mug" in body and "Empty Mug" not in body
    assert 'id="in-stock" name="in_stock" value="1" checked' in body


def test_paging(client, active_product, make_category):
    cat = make_category("Many")
    for n in range(30):
        active_product(f"Item {n:02d}", category_id=cat.id)

    first = text(client.get(f"/c/{cat.handle}?sort=title"))
    assert "Page 1 of 2" in first and "Item 00" in first and "Item 24" not in first
    assert f"/c/{cat.handle}?sort=title&amp;page=2" in first

    second = text(client.get(f"/c/{cat.handle}?sort=title&page=2"))
    assert "Item 24" in second and "Item 00" not in second and 'rel="prev"' in second
    # beyond the last page shows the last page
    assert "Item 29" in text(client.get(f"/c/{cat.handle}?sort=title&page=999"))


def test_htmx_listing_request_gets_the_fragment(client, active_product, make_category):
    cat = make_category("Hats")
    active_product("Cap", category_id=cat.id)

    response = client.get(
        f"/c/{cat.handle}?sort=newest", headers=htmx_headers(**{"HX-Target": "listing"})
    )

    body = text(response)
    assert response.status_code == 200
    assert "Cap" in body and "<html" not in body and 'class="filters"' in body
    assert "HX-Request" in response.headers["Vary"]


def test_collection_manual_order_and_rules(client, active_product):
    first = active_product("Alpha Lamp", vendor="Lumen")
    second = active_product("Beta Lamp", vendor="Lumen")
    active_product("Gamma Chair", vendor="Sitwell")
    manual = create_collection(title="Picks", by=None)
    add_to_collection(manual, [second.id, first.id], by=None)
    rule = create_collection(
        title="Lumen",
        kind="rule",
        rules=[{"field": "vendor", "op": "equals", "value": "Lumen"}],
        by=None,
    )

    body = text(client.get("/collections/picks"))
    assert body.index("Beta Lamp") < body.index("Alpha Lamp")  # the merchandiser's order
    assert "Gamma Chair" not in body

    body = text(client.get(f"/collections/{rule.handle}"))
    assert "Alpha Lamp" in body and "Beta Lamp" in body and "Gamma Chair" not in body

    assert client.get("/collections/nope").status_code == 404


def test_grid_shows_image_price_range_and_compare_at(
    client, active_product, add_image, make_category
):
    from commerce.catalog.services import update_variant

    cat = make_category("Lamps")
    lamp = active_product(
        "Desk Lamp", price=2500, category_id=cat.id, options=[("Size", ["S", "L"])]
    )
    update_variant(lamp.variants[1], price=4000, compare_at_price=5000, by=None)
    add_image(lamp, alt="Desk lamp in brass")

    body = text(client.get(f"/c/{cat.handle}"))

    assert 'alt="Desk lamp in brass"' in body
    assert "From" in body and "$25.00" in body
    assert "<s" in body and "$50.00" in body


def test_no_n_plus_one_on_category_grid(
    client, active_product, add_image, make_category, query_counter
):
    cat = make_category("Lots")

    def add(count: int) -> None:
        for _ in range(count):
            p = active_product(category_id=cat.id, options=[("Size", ["S", "M"])], tags=["x"])
            add_image(p)

    add(3)
    with query_counter() as few:
        assert client.get(f"/c/{cat.handle}").status_code == 200
    add(17)
    with query_counter() as many:
        assert client.get(f"/c/{cat.handle}").status_code == 200
    assert len(many) == len(few), many
    assert len(many) <= 12


def test_grid_loads_badges_in_one_private_request(client, active_product, make_category):
    cat = make_category("Cups")
    a = active_product("Cup A", category_id=cat.id)
    b = active_product("Cup B", category_id=cat.id)
    body = text(client.get(f"/c/{cat.handle}?sort=title"))
    assert f'id="avail-{a.id}"' in body and f'id="avail-{b.id}"' in body
    assert f"/fragments/availability?product={a.id}&amp;product={b.id}" in body
    assert 'hx-trigger="load" hx-swap="none"' in body
