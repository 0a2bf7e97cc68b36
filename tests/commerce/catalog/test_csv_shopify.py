"""Importing Shopify's product CSV: options and continuation rows, "Default Title" products,
HTML bodies, image URLs (downloaded, or kept as links) and opening stock in the ledger."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from commerce.catalog.csv_import import apply_import, check_import
from commerce.catalog.models import Media, Product, Variant
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel, StockMovement

FIXTURE = Path(__file__).parents[2] / "fixtures" / "shopify_products.csv"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def images(httpserver):
    """An image server: a real PNG, a 404, and an HTML page where an image should be."""
    httpserver.expect_request("/ocean-front.png").respond_with_data(
        png_bytes(), content_type="image/png"
    )
    httpserver.expect_request("/missing.jpg").respond_with_data("gone", status=404)
    httpserver.expect_request("/page.html").respond_with_data(
        "<html>not an image</html>", content_type="text/html"
    )
    return httpserver


@pytest.fixture
def shopify_file(tmp_path, images) -> Path:
    base = images.url_for("").rstrip("/")
    path = tmp_path / "products_export.csv"
    path.write_text(FIXTURE.read_text().replace("{IMAGE_BASE}", base), encoding="utf-8")
    return path


@pytest.fixture
def warehouse():
    location = Location(name="Main warehouse", code="MAIN", priority=1)
    db.session.add(location)
    db.session.commit()
    return location


def product(handle: str) -> Product:
    return db.session.scalar(select(Product).where(Product.handle == handle))


def test_shopify_export_imports_products_variants_and_options(shopify_file, warehouse):
    report = apply_import(shopify_file, by=None)
    assert report.ok, report.errors
    assert report.format == "shopify"
    assert (report.products_created, report.variants_created) == (3, 6)
    shirt = product("ocean-blue-shirt")
    assert [(o.name, o.values) for o in shirt.options] == [
        ("Size", ["S", "M"]),
        ("Color", ["Blue", "Navy"]),
    ]
    assert [(v.sku, v.option_values, v.price, v.inventory_policy) for v in shirt.variants] == [
        ("OBS-S-BLUE", ("S", "Blue"), 5000, "deny"),
        ("OBS-M-BLUE", ("M", "Blue"), 5000, "continue"),
        ("OBS-M-NAVY", ("M", "Navy"), 5500, "deny"),
    ]
    first = shirt.variants[0]
    assert (first.compare_at_price, first.weight_grams, first.barcode) == (
        6000,
        200,
        "4006381333931",
    )
    assert (shirt.status, shirt.vendor, shirt.product_type) == ("active", "partners-demo", "Shirts")
    assert shirt.tags == ["shirt", "summer"] and shirt.seo_title == "Ocean Blue Shirt"
    napkins = product("linen-napkin-set")
    assert napkins.status == "archived"
    assert [(v.sku, v.option_values) for v in napkins.variants] == [
        ("NAP-4", ("4-pack",)),
        ("NAP-6", ("6-pack",)),
    ]


def test_default_title_is_a_product_without_options(shopify_file, warehouse):
    assert apply_import(shopify_file, by=None).ok
    mug = product("classic-mug")
    assert mug.options == [] and len(mug.variants) == 1
    variant = mug.variants[0]
    assert (variant.sku, variant.option_values, variant.price) == ("MUG-1", (), 1400)
    assert variant.title == "Default Title" and mug.status == "draft"


def test_html_body_with_quotes_and_commas_is_kept_and_sanitised(shopify_file, warehouse):
    assert apply_import(shopify_file, by=None).ok
    shirt = product("ocean-blue-shirt")
    assert shirt.description_format == "html"
    assert shirt.description.startswith('<p>Soft "organic" cotton, cut slim: wash cold')
    assert 'Soft "organic" cotton, cut slim' in shirt.description_html
    assert "<script" not in shirt.description_html


def test_image_urls_are_downloaded_or_kept_as_links(app, shopify_file, warehouse):
    assert apply_import(shopify_file, by=None).ok
    media = sorted(product("ocean-blue-shirt").media, key=lambda m: m.position)
    assert [(m.kind, m.alt, m.position) for m in media] == [
        ("file", "Ocean blue shirt, front", 1),
        ("external", "Back", 2),
        ("external", "Detail", 3),
    ]
    stored = Path(app.config["MEDIA_ROOT"]) / media[0].path
    assert stored.exists() and media[0].content_type == "image/png"
    assert (media[0].width, media[0].height) == (40, 30)
    assert media[1].external_url.endswith("/missing.jpg")
    assert media[2].external_url.endswith("/page.html")


def test_dry_run_downloads_nothing_and_writes_nothing(shopify_file, images, warehouse):
    report = check_import(shopify_file, by=None)
    assert report.ok, report.errors
    assert (report.products_created, report.images_added) == (3, 3)
    assert images.log == []
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0


def test_inventory_quantities_are_booked_in_the_ledger(shopify_file, warehouse):
    report = apply_import(shopify_file, by=None)
    assert report.stock_units == 5 + 7 + 12
    rows = db.session.execute(
        select(Variant.sku, StockLevel.on_hand, StockMovement.delta, StockMovement.reason)
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .join(StockMovement, StockMovement.stock_level_id == StockLevel.id)
        .where(StockLevel.location_id == warehouse.id)
    )
    assert {sku: (on_hand, delta, reason) for sku, on_hand, delta, reason in rows} == {
        "OBS-S-BLUE": (5, 5, "received"),
        "OBS-M-NAVY": (7, 7, "received"),
        "MUG-1": (12, 12, "received"),
    }


def test_reimporting_a_shopify_file_creates_nothing_new(shopify_file, warehouse):
    assert apply_import(shopify_file, by=None).ok
    counts = [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Product, Media, StockMovement)
    ]
    again = apply_import(shopify_file, by=None)
    assert again.ok, again.errors
    assert (again.products_created, again.variants_created, again.images_added) == (0, 0, 0)
    assert again.products_unchanged == 3 and again.stock_units == 0
    assert counts == [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Product, Media, StockMovement)
    ]
    assert product("ocean-blue-shirt").variants[0].sku == "OBS-S-BLUE"


def test_without_a_location_stock_is_skipped_and_said_so(shopify_file):
    report = apply_import(shopify_file, by=None)
    assert report.ok and report.stock_units == 0
    assert any("No stock location" in note for note in report.notes)
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == 0


def test_unknown_columns_and_categories_are_notes_not_errors(shopify_file, warehouse):
    report = check_import(shopify_file, by=None)
    assert report.ok
    assert any("Google Shopping / Gender" in note for note in report.notes)
    assert any("Home & Garden / Kitchen & Dining" in note for note in report.notes)


def test_missing_optional_columns_are_tolerated(tmp_path):
    path = tmp_path / "minimal.csv"
    path.write_text(
        "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Shop Notes\r\n"
        "plain-tee,Plain Tee,Size,S,TEE-S,10.00,internal\r\n"
        "plain-tee,,,M,TEE-M,11.00,\r\n"
        "plain-cap,Plain Cap,Title,Default Title,CAP-1,8.00,\r\n",
        encoding="utf-8",
    )
    report = apply_import(path, by=None)
    assert report.ok, report.errors
    assert report.notes == ["Ignored columns: Shop Notes."]
    tee = product("plain-tee")
    assert [(v.sku, v.price) for v in tee.variants] == [("TEE-S", 1000), ("TEE-M", 1100)]
    assert tee.status == "draft" and tee.description == ""
    assert product("plain-cap").options == []


def test_errors_name_shopify_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Status\r\n"
        "bad-shirt,Bad Shirt,Size,S,BS-1,-4.00,live\r\n"
        "bad-shirt,,,,BS-2,5.00,\r\n",
        encoding="utf-8",
    )
    report = apply_import(path, by=None)
    found = {(e.row, e.column, e.message) for e in report.errors}
    assert (2, "Variant Price", "A price cannot be negative.") in found
    assert (2, "Status", "Status must be draft, active or archived.") in found
    assert (3, "Option1 Value", "Give a value for Size.") in found
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0


def test_image_urls_on_private_addresses_are_not_fetched(httpserver):
    """An import file must not make the server read internal addresses, even by a redirect."""
    import io

    from PIL import Image

    from commerce.catalog.csv_images import _download

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    httpserver.expect_request("/a.png").respond_with_data(
        buffer.getvalue(), content_type="image/png"
    )
    url = httpserver.url_for("/a.png")
    assert _download(url, timeout=2, max_bytes=10_000, allow_private=True) == buffer.getvalue()
    assert _download(url, timeout=2, max_bytes=10_000, allow_private=False) is None
    assert (
        _download(
            "http://169.254.169.254/latest/meta-data", timeout=2, max_bytes=10, allow_private=False
        )
        is None
    )
