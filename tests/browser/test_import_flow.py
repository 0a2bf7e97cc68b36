"""Importing a catalog CSV in the browser: the dry run reports a bad row and writes nothing."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.browser.conftest import LiveServer, snap, unique

pytestmark = pytest.mark.browser


def catalog_csv(rows: list[dict[str, str]]) -> bytes:
    """A file in our own catalog format (the columns of commerce/catalog/csv_format.py)."""
    columns = ["handle", "title", "status", "option1_name", "option1_value", "sku", "price"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue().encode("utf-8")


def test_dry_run_shows_the_bad_row_and_writes_nothing(page: Page, live_server: LiveServer) -> None:
    tag = unique("imp").split()[1]
    tee, mug = f"import-tee-{tag}", f"import-mug-{tag}"
    data = catalog_csv(
        [
            # row 2: a product with a Size option, its first variant
            {"handle": tee, "title": "Import tee", "status": "draft", "option1_name": "Size",
             "option1_value": "S", "sku": f"{tag}-S", "price": "12.00"},
            # row 3: its second variant, with a negative price
            {"handle": tee, "option1_value": "M", "sku": f"{tag}-M", "price": "-5"},
            # row 4: a good product on its own
            {"handle": mug, "title": "Import mug", "status": "draft", "sku": f"{tag}-MUG",
             "price": "8.00"},
        ]
    )  # fmt: skip

    page.goto("/console/import")
    expect(page.get_by_role("heading", name="Import products")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(
        {"name": "catalog.csv", "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_role("button", name="Upload and check").click()

    expect(page).to_have_url(re.compile(r"/console/import/[^/]+$"))
    expect(page.get_by_role("heading", name="Import “catalog.csv”")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="1 problem found")).to_contain_text(
        "Nothing was imported"
    )
    errors = page.locator("table.import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("td")).to_have_text(["3", "price", "A price cannot be negative."])
    expect(page.get_by_role("button", name=re.compile(r"^Import \d+ products?$"))).to_have_count(0)
    snap(page, "import-dry-run-error")

    from commerce.catalog.models import Product, Variant
    from commerce.extensions import db

    with live_server.app_context():
        products = db.session.scalar(
            select(func.count()).select_from(Product).where(Product.handle.in_([tee, mug]))
        )
        variants = db.session.scalar(
            select(func.count()).select_from(Variant).where(Variant.sku.like(f"{tag}-%"))
        )
    assert (products, variants) == (0, 0)
