"""Bundles in our catalog CSV: the "bundle_components" column ("SKU-A x1; SKU-B x2") is
exported, read back unchanged, builds bundles from SKUs anywhere in the file, and every
problem is reported at its row with nothing written."""

from __future__ import annotations

from commerce.catalog.bundles import components_of
from commerce.catalog.csv_import import apply_import, check_import
from commerce.catalog.models import Variant
from commerce.extensions import db
from tests.commerce.catalog.test_csv_export import export_text, rows_of
from tests.commerce.catalog.test_csv_import import write_csv
from tests.commerce.inventory.bundle_shop import build_bundle_shop


def variant(sku: str) -> Variant:
    return db.session.query(Variant).filter_by(sku=sku).one()


def test_export_spells_the_components_and_reimports_unchanged(app, tmp_path):
    shop = build_bundle_shop(mugs=1, coffee=1)
    rows = rows_of(export_text(app))
    box = next(r for r in rows if r["sku"] == f"BOX-{shop.n}")
    assert box["bundle_components"] == f"MUG-{shop.n} x1; COF-{shop.n} x2"
    mug = next(r for r in rows if r["sku"] == f"MUG-{shop.n}")
    assert mug["bundle_components"] == ""
    path = tmp_path / "again.csv"
    path.write_text(export_text(app), encoding="utf-8")
    report = apply_import(path, by=None)
    assert report.ok, report.errors
    assert report.products_updated == 0
    assert components_of([shop.box]) == {shop.box: [(shop.mug, 1), (shop.coffee, 2)]}


def test_import_builds_a_bundle_from_skus_further_down_the_file(app, tmp_path):
    from tests.commerce.inventory.conftest import add_location

    main = add_location("Main")
    rows = [
        {"handle": "gift-box", "title": "Gift Box", "sku": "GB-1", "price": "30.00",
         "bundle_components": "TEA-1 x3; CUP-X2 x1", "status": "active"},
        {"handle": "tea", "title": "Tea", "sku": "TEA-1", "price": "5.00"},
        {"handle": "cup", "title": "Cup", "sku": "CUP-X2", "price": "8.00"},
    ]  # fmt: skip
    report = apply_import(write_csv(tmp_path, rows), by=None)
    assert report.ok, report.errors
    box = variant("GB-1")
    assert components_of([box.id]) == {
        box.id: [(variant("TEA-1").id, 3), (variant("CUP-X2").id, 1)]
    }
    from commerce.inventory.services import availability, receive_stock

    receive_stock(variant("TEA-1").id, quantity=9, location_id=main.id, by=None)
    receive_stock(variant("CUP-X2").id, quantity=2, location_id=main.id, by=None)
    assert availability([box.id])[box.id].available == 2  # two cups


def test_bad_components_are_reported_at_their_row_and_nothing_is_written(app, tmp_path):
    shop = build_bundle_shop(mugs=1, coffee=1)
    rows = [
        {"handle": "kit-a", "title": "Kit A", "sku": "KIT-A", "price": "10.00",
         "bundle_components": "NOPE-1 x1"},
        {"handle": "kit-b", "title": "Kit B", "sku": "KIT-B", "price": "10.00",
         "bundle_components": f"BOX-{shop.n} x1"},
        {"handle": "kit-c", "title": "Kit C", "sku": "KIT-C", "price": "10.00",
         "bundle_components": f"MUG-{shop.n} x0"},
        {"handle": "kit-d", "title": "Kit D", "sku": "KIT-D", "price": "10.00",
         "bundle_components": f"MUG-{shop.n} x1; MUG-{shop.n} x2"},
    ]  # fmt: skip
    path = write_csv(tmp_path, rows)
    checked = check_import(path, by=None)
    found = {(e.row, e.column): e.message for e in checked.errors}
    assert "Unknown SKU “NOPE-1”" in found[(2, "bundle_components")]
    assert "is a bundle itself" in found[(3, "bundle_components")]
    assert (4, "bundle_components") in found  # zero units
    assert "listed twice" in found[(5, "bundle_components")]
    report = apply_import(path, by=None)
    assert not report.ok
    assert db.session.query(Variant).filter_by(sku="KIT-A").count() == 0
