"""What a merchant tripped over importing CSV (issue 16: 12): a Variant Image named before its
own row, decimal commas, columns the shop has no place for, and a dry run that says what it
would create or change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from commerce.catalog.csv_import import apply_import, check_import
from commerce.catalog.models import Media, Product, Variant
from commerce.extensions import db

HEADER = (
    "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Image Src,"
    "Image Position,Image Alt Text,Variant Image"
)


def write(tmp_path: Path, *lines: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def links_only(app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_FETCH_IMAGES", False)


def test_a_variant_image_listed_on_a_later_row_is_one_image_and_reimports_unchanged(tmp_path):
    path = write(
        tmp_path,
        HEADER,
        "duo-tee,Duo Tee,Size,S,DUO-S,10.00,https://img.example/front.png,1,Front,"
        "https://img.example/back.png",
        "duo-tee,,,M,DUO-M,10.00,https://img.example/back.png,2,Back,",
    )
    first = apply_import(path, by=None)
    assert first.ok, first.errors
    product = db.session.scalar(select(Product).where(Product.handle == "duo-tee"))
    media = sorted(product.media, key=lambda m: m.position)
    assert [(m.external_url, m.alt, m.position) for m in media] == [
        ("https://img.example/front.png", "Front", 1),
        ("https://img.example/back.png", "Back", 2),
    ]
    small = next(v for v in product.variants if v.sku == "DUO-S")
    assert small.image_id == media[1].id  # the variant keeps its image
    assert next(v for v in product.variants if v.sku == "DUO-M").image_id is None
    again = apply_import(path, by=None)
    assert again.ok, again.errors
    assert (again.products_updated, again.products_unchanged, again.images_added) == (0, 1, 0)
    assert again.products == []
    assert db.session.scalar(select(func.count()).select_from(Media)) == 2


def test_a_decimal_comma_is_refused_at_its_row(tmp_path):
    path = write(
        tmp_path,
        "Handle,Title,Variant SKU,Variant Price",
        'comma-cup,Comma Cup,CUP-1,"50,00"',
        'grouped-cup,Grouped Cup,CUP-2,"1,250.00"',
    )
    report = check_import(path, by=None)
    assert [(e.row, e.column) for e in report.errors] == [(2, "Variant Price")]
    assert "“50,00” is ambiguous" in report.errors[0].message
    assert "decimal point" in report.errors[0].message


def test_columns_without_a_place_are_named_and_values_that_matter_refused(tmp_path):
    path = write(
        tmp_path,
        "Handle,Title,Variant SKU,Variant Price,Variant Weight Unit,Variant Taxable,"
        "Variant Requires Shipping,Gift Card,Cost per item",
        "plain-mug,Plain Mug,MUG-1,12.00,g,TRUE,TRUE,FALSE,",
        "free-mug,Free Mug,MUG-2,12.00,g,FALSE,TRUE,FALSE,0.00",
        "card,Gift Card,CARD-1,25.00,g,TRUE,FALSE,TRUE,4.00",
        "boat,Boat,BOAT-1,25.00,g,TRUE,FALSE,FALSE,",
    )
    report = check_import(path, by=None)
    notes = " ".join(report.notes)
    assert "Ignored columns: Variant Weight Unit." in notes
    assert "Not stored:" in notes and all(
        name in notes for name in ("Variant Taxable", "Variant Requires Shipping")
    )
    assert "Gift Card" not in notes  # stored: the product's gift card flag
    assert "Cost per item" not in notes, "the variant's cost is stored"
    refused = {(e.row, e.column) for e in report.errors}
    assert refused == {
        (3, "Variant Taxable"),  # a gift card (row 4) may be untaxed and not shipped
        (5, "Variant Requires Shipping"),
    }


def test_a_gift_card_product_is_imported_with_its_flag(tmp_path):
    path = write(
        tmp_path,
        "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Taxable,"
        "Variant Requires Shipping,Gift Card",
        "gift,Gift Card,Amount,$25,GC-25,25.00,FALSE,FALSE,TRUE",
        "gift,,,$50,GC-50,50.00,FALSE,FALSE,",
        "mug,Mug,,,MUG-1,9.00,TRUE,TRUE,FALSE",
    )
    report = check_import(path, by=None)
    assert report.ok, report.errors
    apply_import(path, by=None)
    flags = dict(db.session.execute(select(Product.handle, Product.is_gift_card)).all())
    assert flags == {"gift": True, "mug": False}


def test_the_dry_run_lists_what_it_would_create_and_change(tmp_path, make_product):
    make_product("Old Tee", handle="old-tee", sku="OLD-1", price=1000)
    path = write(
        tmp_path,
        "Handle,Title,Variant SKU,Variant Price",
        "old-tee,Old Tee,OLD-1,12.00",
        "new-tee,New Tee,NEW-1,9.00",
    )
    report = check_import(path, by=None)
    assert report.ok, report.errors
    listed = {p["handle"]: p for p in report.as_dict()["products"]}
    assert listed["new-tee"]["action"] == "create" and listed["new-tee"]["row"] == 3
    assert listed["old-tee"]["action"] == "update"
    assert "OLD-1: price: $10.00 → $12.00" in listed["old-tee"]["changes"]


def test_deleting_a_variants_image_clears_its_link(tmp_path):
    from commerce.catalog.media import delete_image

    path = write(
        tmp_path,
        HEADER,
        "solo-tee,Solo Tee,Size,S,SOLO-S,10.00,https://img.example/solo.png,1,Solo,"
        "https://img.example/solo.png",
    )
    assert apply_import(path, by=None).ok
    product = db.session.scalar(select(Product).where(Product.handle == "solo-tee"))
    variant = product.variants[0]
    assert variant.image_id == product.media[0].id
    delete_image(product.media[0], by=None)
    assert variant.image_id is None


def test_cost_per_item_is_imported_as_the_variants_cost(tmp_path, make_product):
    make_product("Old Mug", handle="old-mug", sku="MUG-OLD", price=1000)
    path = write(
        tmp_path,
        "Handle,Title,Variant SKU,Variant Price,Cost per item",
        "old-mug,Old Mug,MUG-OLD,10.00,3.25",
        "new-mug,New Mug,MUG-NEW,12.00,4.10",
        "bad-mug,Bad Mug,MUG-BAD,12.00,-1",
    )
    report = check_import(path, by=None)
    assert [(e.row, e.column) for e in report.errors] == [(4, "Cost per item")]
    path = write(
        tmp_path,
        "Handle,Title,Variant SKU,Variant Price,Cost per item",
        "old-mug,Old Mug,MUG-OLD,10.00,3.25",
        "new-mug,New Mug,MUG-NEW,12.00,4.10",
    )
    report = check_import(path, by=None)
    assert report.ok, report.errors
    listed = {p["handle"]: p for p in report.as_dict()["products"]}
    assert "MUG-OLD: cost: — → $3.25" in listed["old-mug"]["changes"]
    apply_import(path, by=None)
    costs = dict(db.session.execute(select(Variant.sku, Variant.cost)).all())
    assert (costs["MUG-OLD"], costs["MUG-NEW"]) == (325, 410)
