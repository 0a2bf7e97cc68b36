"""Importing our own catalog CSV: dry run, create, update, idempotence, and every bad input
reported at its row and column with nothing written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.catalog.csv_format import COLUMNS
from commerce.catalog.csv_import import apply_import, check_import
from commerce.catalog.models import CollectionProduct, Media, Product, Variant
from commerce.catalog.taxonomy import create_collection
from commerce.extensions import db
from commerce.outbox import OutboxEvent


def csv_bytes(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    """A catalog CSV; `columns` defaults to every column any row uses, in our column order."""
    if columns is None:
        used = {key for row in rows for key in row}
        columns = [c for c in COLUMNS if c in used] + sorted(used - set(COLUMNS))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue().encode("utf-8")


def write_csv(tmp_path: Path, rows: list[dict[str, str]], **kw) -> Path:
    path = tmp_path / "import.csv"
    path.write_bytes(csv_bytes(rows, **kw))
    return path


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def shirt_rows() -> list[dict[str, str]]:
    return [
        {
            "handle": "linen-shirt",
            "title": "Linen Shirt",
            "description": 'Cool, crisp "linen".\n\n* breathable',
            "description_format": "markdown",
            "status": "active",
            "vendor": "Acme",
            "product_type": "Shirt",
            "tags": "linen, summer",
            "category": "Apparel / Men / Shirts",
            "collections": "summer",
            "seo_title": "Linen shirt",
            "option1_name": "Size",
            "option1_value": "S",
            "option2_name": "Colour",
            "option2_value": "White",
            "sku": "LS-S-W",
            "price": "49.00",
            "compare_at_price": "59.00",
            "weight_grams": "210",
            "inventory_policy": "deny",
            "image_src": "https://img.example.com/front.jpg",
            "image_alt": "Front",
            "image_position": "1",
        },
        {
            "handle": "linen-shirt",
            "option1_value": "M",
            "option2_value": "White",
            "sku": "LS-M-W",
            "price": "49.00",
            "inventory_policy": "continue",
            "image_src": "https://img.example.com/back.jpg",
            "image_alt": "Back",
            "image_position": "2",
        },
        {"handle": "linen-shirt", "image_src": "https://img.example.com/side.jpg"},
        {"handle": "canvas-tote", "title": "Canvas Tote", "sku": "TOTE", "price": "12.50"},
    ]


@pytest.fixture
def taxonomy(make_category):
    apparel = make_category("Apparel")
    men = make_category("Men", parent=apparel)
    shirts = make_category("Shirts", parent=men)
    summer = create_collection(title="Summer", handle="summer", by=None)
    return {"shirts": shirts, "summer": summer}


@pytest.fixture(autouse=True)
def no_downloads(app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_FETCH_IMAGES", False)


def test_dry_run_counts_what_would_change_and_writes_nothing(tmp_path, taxonomy):
    path = write_csv(tmp_path, shirt_rows())
    audits, events = count(AuditEntry), count(OutboxEvent)
    report = check_import(path, by=None)
    assert report.ok, report.errors
    assert (report.products_created, report.variants_created, report.images_added) == (2, 3, 3)
    assert report.dry_run and report.rows == 4
    assert count(Product) == 0 and count(Variant) == 0 and count(Media) == 0
    assert (count(AuditEntry), count(OutboxEvent)) == (audits, events)


def test_import_creates_products_through_the_services(tmp_path, taxonomy, make_staff):
    staff = make_staff("merchandiser")
    report = apply_import(write_csv(tmp_path, shirt_rows()), by=staff)
    assert report.ok, report.errors
    assert (report.products_created, report.variants_created, report.images_added) == (2, 3, 3)
    shirt = db.session.scalar(select(Product).where(Product.handle == "linen-shirt"))
    assert (shirt.title, shirt.status, shirt.vendor, shirt.product_type) == (
        "Linen Shirt",
        "active",
        "Acme",
        "Shirt",
    )
    assert shirt.description == 'Cool, crisp "linen".\n\n* breathable'
    assert "<li>breathable</li>" in shirt.description_html
    assert shirt.tags == ["linen", "summer"] and shirt.category_id == taxonomy["shirts"].id
    assert [(o.name, o.values) for o in shirt.options] == [
        ("Size", ["S", "M"]),
        ("Colour", ["White"]),
    ]
    variants = [(v.sku, v.option_values, v.price, v.inventory_policy) for v in shirt.variants]
    assert variants == [
        ("LS-S-W", ("S", "White"), 4900, "deny"),
        ("LS-M-W", ("M", "White"), 4900, "continue"),
    ]
    assert (shirt.variants[0].compare_at_price, shirt.variants[0].weight_grams) == (5900, 210)
    assert (shirt.min_price, shirt.max_price, shirt.variant_count) == (4900, 4900, 2)
    assert [(m.kind, m.external_url, m.alt, m.position) for m in shirt.media] == [
        ("external", "https://img.example.com/front.jpg", "Front", 1),
        ("external", "https://img.example.com/back.jpg", "Back", 2),
        ("external", "https://img.example.com/side.jpg", "", 3),
    ]
    members = db.session.scalars(
        select(CollectionProduct.product_id).where(
            CollectionProduct.collection_id == taxonomy["summer"].id
        )
    ).all()
    assert members == [shirt.id]
    tote = db.session.scalar(select(Product).where(Product.handle == "canvas-tote"))
    assert tote.status == "draft" and tote.options == [] and tote.variants[0].price == 1250
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.actor_id == staff.id)
    ).all()
    assert "product.create" in actions and "variant.create" in actions
    topics = db.session.scalars(select(OutboxEvent.payload)).all()
    assert {"product_id": shirt.id, "created": True} in topics  # webhooks: product.created


def test_reimporting_the_same_file_changes_nothing(tmp_path, taxonomy):
    path = write_csv(tmp_path, shirt_rows())
    assert apply_import(path, by=None).ok
    before = (count(Product), count(Variant), count(Media), count(AuditEntry), count(OutboxEvent))
    again = apply_import(path, by=None)
    assert again.ok, again.errors
    assert (again.products_created, again.products_updated, again.products_unchanged) == (0, 0, 2)
    assert (again.variants_created, again.variants_updated, again.images_added) == (0, 0, 0)
    after = (count(Product), count(Variant), count(Media), count(AuditEntry), count(OutboxEvent))
    assert after == before


def test_update_by_handle_and_sku(tmp_path, make_product):
    product = make_product("Old title", handle="mug", sku="MUG-1", price=800)
    rows = [
        {"handle": "mug", "title": "Stoneware Mug", "sku": "MUG-1", "price": "9.50"},
    ]
    report = apply_import(write_csv(tmp_path, rows), by=None)
    assert report.ok, report.errors
    assert (report.products_updated, report.variants_updated, report.products_created) == (1, 1, 0)
    db.session.refresh(product)
    assert product.title == "Stoneware Mug" and product.variants[0].price == 950
    assert count(Product) == 1


def test_options_can_be_added_to_a_product_without_options(tmp_path, make_product):
    product = make_product("Tee", handle="tee", sku="TEE", price=1500)
    rows = [
        {
            "handle": "tee",
            "title": "Tee",
            "option1_name": "Size",
            "option1_value": "S",
            "sku": "TEE-S",
            "price": "15.00",
        },
        {"handle": "tee", "option1_value": "M", "sku": "TEE-M", "price": "16.00"},
    ]
    report = apply_import(write_csv(tmp_path, rows), by=None)
    assert report.ok, report.errors
    db.session.refresh(product)
    assert [(v.sku, v.option_values) for v in product.variants] == [
        ("TEE-S", ("S",)),
        ("TEE-M", ("M",)),
    ]
    assert (report.variants_updated, report.variants_created) == (1, 1)


def test_new_option_values_extend_existing_ones(tmp_path, make_product):
    product = make_product("Cap", handle="cap", options=[("Size", ["S", "M"])])
    skus = [v.sku for v in product.variants]
    rows = [
        {"handle": "cap", "title": "Cap", "option1_name": "Size", "option1_value": "L",
         "sku": "CAP-L", "price": "20.00"},
    ]  # fmt: skip
    assert apply_import(write_csv(tmp_path, rows), by=None).ok
    db.session.refresh(product)
    assert product.options[0].values == ["S", "M", "L"]
    assert [v.option_values for v in product.variants] == [("S",), ("M",), ("L",)]
    assert skus == [v.sku for v in product.variants[:2]]


def row(**values: str) -> dict[str, str]:
    return {"handle": "good-one", "title": "Good", "sku": "G-1", "price": "10.00", **values}


BAD_INPUTS = {
    "invalid handle": ([row(handle="Bad Handle!")], 2, "handle", "Use lowercase letters"),
    "malformed price": ([row(price="ten")], 2, "price", "is not an amount"),
    "negative price": ([row(price="-1.00")], 2, "price", "cannot be negative"),
    "too many decimals": ([row(price="1.999")], 2, "price", "at most 2 decimal places"),
    "negative compare-at": ([row(compare_at_price="-2")], 2, "compare_at_price", "negative"),
    "unknown category": ([row(category="Nowhere / Else")], 2, "category", "Unknown category"),
    "unknown collection": ([row(collections="nope")], 2, "collections", "Unknown collection"),
    "bad status": ([row(status="live")], 2, "status", "Status must be draft, active"),
    "bad description format": (
        [row(description_format="rtf")],
        2,
        "description_format",
        "markdown or html",
    ),
    "title too long": ([row(title="x" * 300)], 2, "title", "at most 255"),
    "weight not a number": ([row(weight_grams="heavy")], 2, "weight_grams", "whole grams"),
    "negative weight": ([row(weight_grams="-5")], 2, "weight_grams", "cannot be negative"),
    "bad policy": ([row(inventory_policy="sometimes")], 2, "inventory_policy", "deny or continue"),
    "bad sku": ([row(sku="has space")], 2, "sku", "A SKU is up to 64"),
    "missing price": ([row(price="")], 2, "price", "Enter a price"),
    "bad image url": ([row(image_src="ftp://x/y.png")], 2, "image_src", "http(s) address"),
    "option value missing": (
        [
            row(option1_name="Size", option1_value="S"),
            {"handle": "good-one", "sku": "G-2", "price": "10.00"},
        ],
        3,
        "option1_value",
        "Give a value for Size",
    ),
    "value for an unnamed option": (
        [row(option1_value="S")],
        2,
        "option1_value",
        "has no name on the product row",
    ),
    "same option values twice": (
        [
            row(option1_name="Size", option1_value="S"),
            {"handle": "good-one", "option1_value": "S", "sku": "G-2", "price": "1.00"},
        ],
        3,
        "option1_value",
        "Row 3 already has these option values (S)",
    ),
    "variant row without a product row": (
        [{"handle": "orphan", "sku": "O-1", "price": "1.00"}],
        2,
        "handle",
        "No product row for “orphan”",
    ),
    "two product rows for a handle": (
        [row(), row(sku="G-2")],
        3,
        "title",
        "already has its product row (row 3)",
    ),
    "duplicate sku in the file": (
        [row(), row(handle="other-one", title="Other")],
        3,
        "sku",
        "SKU “G-1” is also on row 3",
    ),
    "more than three options": (
        [row(option4_name="Fit", option4_value="Slim")],
        2,
        "option4_name",
        "at most 3 options",
    ),
    "rule-based collection": (
        [row(collections="sale")],
        2,
        "collections",
        "rule-based collection",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_reported_at_its_row_and_column_and_nothing_is_written(tmp_path, case):
    rows, expected_row, column, message = BAD_INPUTS[case]
    create_collection(
        title="Sale",
        handle="sale",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "sale"}],
        by=None,
    )
    good = {"handle": "fine-product", "title": "Fine", "sku": "FINE", "price": "5.00"}
    path = write_csv(tmp_path, [good, *[{**r} for r in rows]])
    expected_row += 1  # the good product's row comes first
    audits = count(AuditEntry)
    for run in (check_import, apply_import):
        report = run(path, by=None)
        found = [(e.row, e.column, e.message) for e in report.errors]
        assert any(r == expected_row and c == column and message in m for r, c, m in found), found
        assert not report.ok
    assert count(Product) == 0 and count(Variant) == 0 and count(AuditEntry) == audits


def test_sku_of_another_product_in_the_database_is_refused(tmp_path, make_product):
    make_product("Existing", handle="existing", sku="TAKEN")
    path = write_csv(tmp_path, [row(sku="TAKEN")])
    report = apply_import(path, by=None)
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (2, "sku", "SKU “TAKEN” is already used by “existing”.")
    ]
    assert count(Product) == 1


def test_one_bad_row_among_many_writes_nothing(tmp_path):
    rows = [
        {"handle": f"item-{n}", "title": f"Item {n}", "sku": f"I-{n}", "price": "3.00"}
        for n in range(20)
    ]
    rows[13]["price"] = "-3.00"
    report = apply_import(write_csv(tmp_path, rows), by=None)
    assert [(e.row, e.column) for e in report.errors] == [(15, "price")]
    assert report.products_created == 0 and count(Product) == 0


def test_unknown_header_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("name,cost\nShirt,10\n")
    from commerce.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        check_import(path, by=None)
    assert caught.value.field == "file" and "column names" in caught.value.message
