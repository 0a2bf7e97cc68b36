"""CSV import and export through the console: upload, dry run, import, permissions."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from commerce.catalog.models import Product
from commerce.extensions import db
from commerce.jobs import Job
from tests.commerce.catalog.test_csv_import import csv_bytes
from tests.conftest import htmx_headers

GOOD = [
    {"handle": "linen-shirt", "title": "Linen Shirt", "option1_name": "Size",
     "option1_value": "S", "sku": "LS-S", "price": "49.00"},
    {"handle": "linen-shirt", "option1_value": "M", "sku": "LS-M", "price": "49.00"},
    {"handle": "canvas-tote", "title": "Canvas Tote", "sku": "TOTE", "price": "12.00"},
]  # fmt: skip


def products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def upload(client, data: bytes, name: str = "catalog.csv", **kw):
    return client.post(
        "/console/import",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        **kw,
    )


def upload_page(client, response) -> tuple[str, str]:
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    url = response.headers["Location"]
    assert re.search(r"/console/import/[0-9a-f]{32}$", url)
    return url, client.get(url).get_data(as_text=True)


def test_good_file_dry_run_then_import(client, login):
    login("merchandiser")
    page = client.get("/console/import")
    assert page.status_code == 200 and "Upload and check" in page.get_data(as_text=True)
    url, html = upload_page(client, upload(client, csv_bytes(GOOD)))
    assert "Import “catalog.csv”" in html
    assert "2 to create" in html and "3 to create" in html  # products, variants
    assert "Import 2 products" in html
    listed = html.split("import-products", 1)[1].split("</table>", 1)[0]  # what it would do
    assert "Linen Shirt" in listed and "Canvas Tote" in listed and "2 variants" in listed
    assert products() == 0
    applied = client.post(url + "/apply")
    assert applied.status_code == 303 and applied.headers["Location"].endswith(url)
    assert products() == 2
    html = client.get(url).get_data(as_text=True)
    assert "2 created" in html and "Import 2 products" not in html
    again = client.post(url + "/apply")
    assert again.status_code == 303 and products() == 2  # an upload is imported once


def test_bad_row_is_shown_and_nothing_can_be_imported(client, login):
    login("merchandiser")
    rows = [dict(r) for r in GOOD]
    rows[1]["price"] = "-5"
    url, html = upload_page(client, upload(client, csv_bytes(rows)))
    assert "1 problem found" in html and "Nothing was imported" in html
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html.split("import-errors")[1])
    assert cells[:3] == ["3", "<code>price</code>", "A price cannot be negative."]
    assert "Import 2 products" not in html
    refused = client.post(url + "/apply", follow_redirects=True)
    assert "Only a file whose check found no errors" in refused.get_data(as_text=True)
    assert products() == 0


def test_the_job_fragment_shows_the_result(client, login):
    login("merchandiser")
    rows = [dict(GOOD[2], price="abc")]
    url, _ = upload_page(client, upload(client, csv_bytes(rows)))
    job = db.session.scalar(select(Job).where(Job.kind == "catalog_import"))
    fragment = client.get(f"/console/jobs/{job.id}", headers=htmx_headers())
    body = fragment.get_data(as_text=True)
    assert 'class="sidebar"' not in body and "“abc” is not an amount." in body
    page_fragment = client.get(url, headers=htmx_headers()).get_data(as_text=True)
    assert page_fragment.lstrip().startswith('<div id="import-upload">')


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"handle,title,price\nx,X,1.00\n", "catalog.txt", "is not a .csv file"),
        (b"", "catalog.csv", "is empty"),
        ("handle,title,price\nx,Caf\u00e9,1\n".encode("latin-1"), "c.csv", "is not UTF-8"),
        (b"name,cost\nShirt,10\n", "catalog.csv", "column names of our catalog export"),
    ],
    ids=["not csv", "empty", "not utf-8", "unknown header"],
)
def test_unusable_uploads_are_refused_at_the_field(client, login, data, name, message):
    login("merchandiser")
    response = upload(client, data, name)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'id="file-msg"' in html
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_oversized_upload_is_refused(app, client, login, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 50)
    login("merchandiser")
    response = upload(client, csv_bytes(GOOD))
    assert response.status_code == 422 and "imports are at most" in response.get_data(as_text=True)


def test_missing_file_is_refused(client, login):
    login("merchandiser")
    response = client.post("/console/import", data={})
    assert response.status_code == 422 and "Choose a CSV file" in response.get_data(as_text=True)


def test_byte_order_mark_is_accepted(client, login):
    login("merchandiser")
    _, html = upload_page(client, upload(client, "\ufeff".encode() + csv_bytes(GOOD)))
    assert "Import 2 products" in html


def test_unknown_upload_is_not_found(client, login):
    login("admin")
    assert client.get("/console/import/" + "0" * 32).status_code == 404
    assert client.get("/console/import/not-an-id").status_code == 404


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/console/import"),
        ("POST", "/console/import"),
        ("GET", "/console/products/export"),
        ("POST", "/console/import/" + "0" * 32 + "/apply"),
    ],
)
def test_warehouse_staff_may_not_import_or_export(client, login, method, url):
    login("warehouse")
    assert client.open(url, method=method).status_code == 403


def test_export_downloads_the_filtered_list(client, login, make_product):
    login("merchandiser")
    make_product("Active one", handle="active-one", status="active")
    make_product("Draft one", handle="draft-one", status="draft")
    response = client.get("/console/products/export?status=active")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="products-')
    text = response.get_data(as_text=True)
    assert "active-one" in text and "draft-one" not in text


def test_export_with_a_bad_filter_goes_back_to_the_list(client, login):
    login("merchandiser")
    response = client.get("/console/products/export?price_min=abc")
    assert response.status_code == 303 and "/console/products" in response.headers["Location"]


def test_job_progress_is_visible_to_colleagues_who_may_import(client, app, login, make_staff):
    from commerce.jobs import create_job
    from tests.conftest import sign_in

    owner = make_staff("merchandiser")
    job = create_job("catalog_import", title="Someone else's import", params={}, by=owner)
    login("merchandiser")
    assert client.get(f"/console/jobs/{job.id}").status_code == 200
    support = app.test_client()
    sign_in(support, make_staff("support"))
    assert support.get(f"/console/jobs/{job.id}").status_code == 403
