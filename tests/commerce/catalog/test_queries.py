"""The product list: filters, sorts and keyset paging that visits every row exactly once."""

from __future__ import annotations

import pytest

from commerce.catalog.queries import ProductFilter, jump_to, list_products
from commerce.catalog.services import bulk_update_products
from commerce.catalog.taxonomy import create_collection


def walk(flt, limit):
    seen, cursor, pages = [], None, 0
    while True:
        page = list_products(flt, after=cursor, limit=limit)
        seen.extend(p.id for p in page.items)
        pages += 1
        if not page.next_cursor:
            return seen, page, pages
        cursor = page.next_cursor


@pytest.mark.parametrize("sort", ["updated", "created", "title", "price", "vendor", "status"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_keyset_paging_visits_every_product_once(make_product, sort, direction):
    # Ties on the sort key (same vendor, same price) are broken by id, so nothing repeats.
    products = [
        make_product(f"P{i % 4}", price=100 * (i % 3), vendor=f"V{i % 2}") for i in range(11)
    ]
    seen, last, pages = walk(ProductFilter(sort=sort, direction=direction), limit=4)
    assert sorted(seen) == sorted(p.id for p in products)
    assert len(seen) == len(set(seen)) and pages == 3 and last.total == 11


def test_previous_page_returns_the_same_rows(make_product):
    for i in range(9):
        make_product(f"Item {i:02d}")
    flt = ProductFilter(sort="title", direction="asc")
    first = list_products(flt, limit=4)
    second = list_products(flt, after=first.next_cursor, limit=4)
    back = list_products(flt, before=second.prev_cursor, limit=4)
    assert [p.id for p in back.items] == [p.id for p in first.items]
    assert back.prev_cursor is None and back.next_cursor


def test_filters(make_product, make_category):
    apparel = make_category("Apparel")
    shirts = make_category("Shirts", parent=apparel)
    a = make_product(
        "Blue Linen Shirt",
        vendor="Acme",
        price=2500,
        category_id=shirts.id,
        tags="summer",
        status="active",
    )
    b = make_product(
        "Wool Coat", vendor="Borealis", price=12000, category_id=apparel.id, sku="COAT-9"
    )
    c = make_product("Mug", vendor="Acme", price=900)

    def ids(**kw):
        return {p.id for p in list_products(ProductFilter(**kw)).items}

    assert ids(q="linen") == {a.id}
    assert ids(q="COAT-9") == {b.id}
    assert ids(vendor="Acme") == {a.id, c.id}
    assert ids(status="active") == {a.id}
    assert ids(tag="summer") == {a.id}
    assert ids(category_id=apparel.id) == {a.id, b.id}  # includes subcategories
    assert ids(category_id=shirts.id) == {a.id}
    assert ids(price_min=1000, price_max=20000) == {a.id, b.id}
    assert ids(price_max=1000) == {c.id}
    rule = create_collection(
        title="Acme",
        kind="rule",
        rules=[{"field": "vendor", "op": "equals", "value": "acme"}],
        by=None,
    )
    assert ids(collection_id=rule.id) == {a.id, c.id}
    bulk_update_products([b.id], action="archive", by=None)
    assert ids(status="archived") == {b.id}


def test_garbage_cursor_is_ignored(make_product):
    make_product()
    assert list_products(ProductFilter(), after="not-base64!!").total == 1


def test_jump_finds_skus_and_titles(make_product):
    product = make_product("Trail Runner", sku="TRL-42")
    kinds = {(r["kind"], r["product_id"]) for r in jump_to("TRL")}
    assert ("SKU", product.id) in kinds
    assert any(r["product_id"] == product.id for r in jump_to("trail"))


def test_jump_sku_prefix_ignores_case_and_stops_at_the_prefix(make_product):
    """The SKU prefix is read as a range on lower(sku) on SQLite: same answers as ILIKE."""
    runner = make_product("Runner", sku="Trl-42z").id
    make_product("Other", sku="TRM-1")
    make_product("Wild", sku="XTRL-9")
    skus = lambda q: {r["product_id"] for r in jump_to(q) if r["kind"] == "SKU"}  # noqa: E731
    assert skus("tRL") == {runner} and skus("TRL-42Z") == {runner}
    assert skus("trl-42zz") == set() and skus("T_L") == {runner}


def test_list_page_query_count_does_not_grow_with_rows(make_product, query_counter):
    for _ in range(3):
        make_product(tags="a, b")
    with query_counter() as few:
        list_products(ProductFilter(), limit=50)
    for _ in range(12):
        make_product(tags="a, b")
    with query_counter() as many:
        list_products(ProductFilter(), limit=50)
    assert len(many) == len(few)


def test_quick_search_follows_every_catalog_change(make_product):
    """The quick search reads the trigram tables on SQLite (LIKE or MATCH, by the query); the
    triggers keep them with the catalog: new, renamed, re-SKU'd and deleted products."""
    from commerce.catalog.services import delete_product, update_product, update_variant

    def found(q):
        return {p.id for p in list_products(ProductFilter(q=q)).items}

    tee = make_product("Linen Tee", sku="LIN-TEE-1", vendor="Acme Mills")
    mug = make_product("Stone Mug", sku="MUG-9", barcode="4006381333931")
    assert found("linen") == {tee.id} and found("LINEN tee") == {tee.id}
    assert found("acme m") == {tee.id} and found("tee-1") == {tee.id}
    assert found("ug") == {mug.id} and found("m_g") == {mug.id} and found("%mug") == {mug.id}
    assert found("4006381333931") == {mug.id} and found('"mug') == set()
    update_product(tee, by=None, title="Hemp Shirt")
    update_variant(mug.variants[0], by=None, sku="CUP-9")
    # the old title is gone (its handle, linen-tee, is kept and still matches "linen")
    assert found("linen tee") == set() and found("hemp") == {tee.id}
    assert found("mug-9") == set()  # the old SKU is gone
    assert found("cup-9") == {mug.id} and found("p-9") == {mug.id}
    delete_product(tee, by=None)
    assert found("hemp") == set()


def test_stock_quick_search_broad_and_narrow(make_product, monkeypatch):
    """A text filter matching more than COUNT_LIMIT levels walks the SKU order (a bound count);
    a narrow one sorts its matches: the same rows either way."""
    import commerce.paging
    from commerce.inventory.locations import create_location
    from commerce.inventory.queries import StockFilter, list_stock
    from commerce.inventory.services import receive_stock

    wh = create_location(name="Main", code="WH1", by=None, priority=1)
    for n in range(5):
        v = make_product(f"Wool sock {n}", sku=f"SOCK-{4 - n}").variants[0]
        receive_stock(v.id, quantity=1, location_id=wh.id, by=None)
    cap = make_product("Cap", sku="CAP-1").variants[0]
    receive_stock(cap.id, quantity=1, location_id=wh.id, by=None)

    def skus():
        return [r.sku for r in list_stock(StockFilter(q="sock"), limit=3).items]

    narrow = skus()
    monkeypatch.setattr(commerce.paging, "COUNT_LIMIT", 2)
    assert skus() == narrow == ["SOCK-0", "SOCK-1", "SOCK-2"]
    assert list_stock(StockFilter(q="sock")).total_label == "2+"
