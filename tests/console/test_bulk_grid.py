"""The bulk editor and the bulk price change through HTTP."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from commerce.catalog.bulk_edit import BulkEditBatch
from commerce.catalog.models import Product, Variant
from commerce.catalog.services import update_variant
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel
from tests.conftest import htmx_headers


@pytest.fixture
def goods(make_product):
    db.session.add(Location(name="Main", code="MAIN", priority=1))
    db.session.commit()
    shirt = make_product("Linen Shirt", price=2000, options=[("Size", ["S", "M"])])
    mug = make_product("Mug", price=900)
    return shirt, mug


def loaded_of(page: str) -> str:
    raw = re.search(r'name="loaded" value="([^"]*)"', page).group(1)
    return raw.replace("&#34;", '"').replace("&quot;", '"')


def open_grid(client, *products):
    page = client.get(
        "/console/products/grid", query_string={"products": ",".join(str(p.id) for p in products)}
    )
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_grid_lists_a_row_per_variant_as_a_form(client, login, goods):
    login("admin")
    shirt, mug = goods
    page = open_grid(client, shirt, mug)
    for variant in [*shirt.variants, *mug.variants]:
        assert f'name="cell-v{variant.id}-price"' in page
    assert f'name="cell-p{shirt.id}-status"' in page
    assert "Stock · Main" in page and 'src="/static/js/bulk-grid.js"' in page
    loaded = json.loads(loaded_of(page))
    assert loaded[f"v{mug.variants[0].id}-price"] == "9.00"
    # ... or the products the list's filter shows
    by_filter = client.get("/console/products/grid", query_string={"q": "Mug"}).get_data(
        as_text=True
    )
    assert f"cell-v{mug.variants[0].id}-price" in by_filter
    assert f"cell-v{shirt.variants[0].id}-price" not in by_filter


def test_save_applies_the_changed_cells_and_undo_restores_them(client, login, goods):
    login("admin")
    shirt, mug = goods
    s, mug_v = shirt.variants[0], mug.variants[0]
    location = db.session.scalar(select(Location))
    page = open_grid(client, shirt, mug)
    answer = client.post(
        "/console/products/grid",
        data={
            "products": f"{shirt.id},{mug.id}",
            "loaded": loaded_of(page),
            f"cell-v{s.id}-price": "25.50",
            f"cell-v{mug_v.id}-price": "9.00",  # unchanged
            f"cell-v{mug_v.id}-stock-{location.id}": "12",
            f"cell-p{shirt.id}-status": "active",
        },
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:800]
    batch = db.session.scalar(select(BulkEditBatch))
    assert answer.headers["Location"].endswith(f"/console/products/bulk-edits/{batch.id}")
    db.session.expire_all()
    assert db.session.get(Variant, s.id).price == 2550
    assert db.session.get(Product, shirt.id).status == "active"
    level = db.session.scalar(select(StockLevel).where(StockLevel.variant_id == mug_v.id))
    assert level.on_hand == 12
    detail = client.get(f"/console/products/bulk-edits/{batch.id}").get_data(as_text=True)
    assert "$25.50" in detail and "Stock on hand" in detail and "Undo this batch" in detail
    listing = client.get("/console/products/bulk-edits").get_data(as_text=True)
    assert f">#{batch.id}</a>" in listing

    undone = client.post(f"/console/products/bulk-edits/{batch.id}/undo")
    assert undone.status_code == 303
    db.session.expire_all()
    assert db.session.get(Variant, s.id).price != 2550
    assert db.session.get(Product, shirt.id).status == "draft"
    level = db.session.scalar(select(StockLevel).where(StockLevel.variant_id == mug_v.id))
    assert level.on_hand == 0


def test_bad_cells_answer_422_with_the_message_at_each_cell(client, login, goods):
    login("admin")
    shirt, mug = goods
    s, mug_v = shirt.variants[0], mug.variants[0]
    page = open_grid(client, shirt, mug)
    answer = client.post(
        "/console/products/grid",
        data={
            "products": f"{shirt.id},{mug.id}",
            "loaded": loaded_of(page),
            f"cell-v{s.id}-price": "50,00",
            f"cell-v{mug_v.id}-price": "12.00",
        },
    )
    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    message = re.search(rf'id="msg-v{s.id}-price">([^<]*)<', body).group(1)
    assert "ambiguous" in message
    assert 'value="50,00"' in body and 'value="12.00"' in body  # what was typed stays
    assert "Nothing was saved" in body
    db.session.expire_all()
    assert db.session.get(Variant, mug_v.id).price == 900
    assert db.session.scalar(select(BulkEditBatch)) is None


def test_a_cell_changed_meanwhile_is_a_conflict(client, login, goods):
    login("admin")
    _, mug = goods
    mug_v = mug.variants[0]
    page = open_grid(client, mug)
    update_variant(db.session.get(Variant, mug_v.id), by=None, price=1500)
    answer = client.post(
        "/console/products/grid",
        data={"products": str(mug.id), "loaded": loaded_of(page), f"cell-v{mug_v.id}-price": "11"},
    )
    assert answer.status_code == 422
    assert "it is now $15.00" in answer.get_data(as_text=True)


def test_stock_needs_inventory_edit(client, login, goods):
    login("merchandiser")
    _, mug = goods
    mug_v = mug.variants[0]
    location = db.session.scalar(select(Location))
    page = open_grid(client, mug)
    assert "Stock is read-only for you" in page and "data-readonly" in page
    answer = client.post(
        "/console/products/grid",
        data={
            "products": str(mug.id),
            "loaded": loaded_of(page),
            f"cell-v{mug_v.id}-stock-{location.id}": "4",
        },
    )
    assert answer.status_code == 422 and "You may not change stock." in answer.get_data(
        as_text=True
    )


def test_warehouse_cannot_open_the_grid(client, login, goods):
    login("warehouse")
    assert client.get("/console/products/grid").status_code == 403


def test_the_list_opens_the_ticked_products_in_the_grid(client, login, goods):
    login("merchandiser")
    shirt, mug = goods
    answer = client.post(
        "/console/products/bulk",
        data={"ids": [shirt.id, mug.id], "action": "open_grid"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == (
        f"/console/products/grid?products={min(shirt.id, mug.id)},{max(shirt.id, mug.id)}"
    )


def test_bulk_price_change_confirms_then_applies_as_an_undoable_batch(client, login, goods):
    login("merchandiser")
    shirt, mug = goods
    data = {
        "ids": [shirt.id, mug.id],
        "action": "change_price",
        "price_mode": "percent",
        "price_value": "10",
        "rounding": "99",
        "compare_at": "1",
    }
    asked = client.post("/console/products/bulk", data=data, headers=htmx_headers())
    assert asked.status_code == 200
    body = asked.get_data(as_text=True)
    assert "3 variants change price" in body and "Apply to 3 prices" in body
    db.session.expire_all()
    assert db.session.get(Variant, mug.variants[0].id).price == 900  # nothing yet
    applied = client.post(
        "/console/products/bulk", data={**data, "confirmed": "1"}, headers=htmx_headers()
    )
    assert applied.status_code == 204
    batch = db.session.scalar(select(BulkEditBatch))
    assert applied.headers["HX-Location"] == f"/console/products/bulk-edits/{batch.id}"
    db.session.expire_all()
    assert db.session.get(Variant, mug.variants[0].id).price == 999
    assert batch.kind == "price_change" and batch.change_count == 3


def test_a_price_with_a_decimal_comma_is_refused(client, login, goods):
    login("merchandiser")
    _, mug = goods
    answer = client.post(
        "/console/products/bulk",
        data={
            "ids": [mug.id],
            "action": "change_price",
            "price_mode": "amount",
            "price_value": "1,50",
        },
        headers=htmx_headers(),
    )
    assert answer.status_code == 422
    assert "ambiguous" in json.loads(answer.headers["HX-Trigger"])["toast"]["message"]


def test_undo_refused_when_a_cell_changed_since_says_which(client, login, goods):
    login("admin")
    _, mug = goods
    mug_v = mug.variants[0]
    page = open_grid(client, mug)
    client.post(
        "/console/products/grid",
        data={"products": str(mug.id), "loaded": loaded_of(page), f"cell-v{mug_v.id}-price": "10"},
    )
    batch = db.session.scalar(select(BulkEditBatch))
    update_variant(db.session.get(Variant, mug_v.id), by=None, price=1234)
    answer = client.post(f"/console/products/bulk-edits/{batch.id}/undo")
    assert answer.status_code == 422
    assert "Price of Mug" in answer.get_data(as_text=True)
    assert "$12.34" in answer.get_data(as_text=True)


def test_the_grid_reads_a_fixed_number_of_statements(client, login, make_product, query_counter):
    login("admin")
    db.session.add(Location(name="Main", code="MAIN", priority=1))
    db.session.commit()
    few = str(make_product(options=[("Size", ["S", "M"])]).id)
    with query_counter() as counted_few:
        client.get("/console/products/grid", query_string={"products": few})
    many = [make_product(options=[("Size", ["S", "M", "L"])]).id for _ in range(8)]
    ids = ",".join([few, *map(str, many)])
    with query_counter() as counted_many:
        page = client.get("/console/products/grid", query_string={"products": ids})
    assert page.get_data(as_text=True).count('name="cell-v') == 26 * 6  # 5 columns + stock
    assert len(counted_many) == len(counted_few)


def test_a_large_save_runs_as_a_job_with_a_progress_bar(client, login, goods, app, monkeypatch):
    monkeypatch.setitem(app.config, "BULK_EDIT_JOB_VARIANTS", 1)
    login("admin")
    shirt, mug = goods
    s, mug_v = shirt.variants[0], mug.variants[0]
    page = open_grid(client, shirt, mug)
    answer = client.post(
        "/console/products/grid",
        data={
            "products": f"{shirt.id},{mug.id}",
            "loaded": loaded_of(page),
            f"cell-v{s.id}-weight_grams": "120",
            f"cell-v{mug_v.id}-weight_grams": "340",
        },
        follow_redirects=True,
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<progress" in body
    assert "See bulk edit #" in body and "2 cells changed." in body
    audit = client.get("/console/audit").get_data(as_text=True)
    assert "Bulk edit #" in audit


def test_all_matching_products_open_in_the_grid_by_the_filter(client, login, goods):
    login("merchandiser")
    answer = client.post(
        "/console/products/bulk?q=Mug",
        data={"select_all_matching": "1", "action": "open_grid"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == "/console/products/grid?q=Mug"


def test_the_price_confirmation_works_without_htmx(client, login, goods):
    login("merchandiser")
    _, mug = goods
    data = {"ids": [mug.id], "action": "change_price", "price_mode": "amount", "price_value": "1"}
    asked = client.post("/console/products/bulk", data=data)
    body = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Change prices?" in body and "<h1>Products</h1>" in body
    assert "1 variant changes price by $1.00" in body
    applied = client.post("/console/products/bulk", data={**data, "confirmed": "1"})
    assert applied.status_code == 303 and "/console/products/bulk-edits/" in applied.location
    db.session.expire_all()
    assert db.session.get(Variant, mug.variants[0].id).price == 1000


def test_ids_too_large_for_a_column_find_nothing(client, login, goods):
    login("admin")
    huge = "9" * 12
    assert client.get(f"/console/products/grid?products={huge}").status_code == 200
    answer = client.post(
        "/console/products/grid",
        data={
            "products": huge,
            "loaded": json.dumps({f"v{huge}-price": "1.00", f"v1-stock-{huge}": "0"}),
            f"cell-v{huge}-price": "2.00",
            f"cell-v1-stock-{huge}": "3",
        },
    )
    assert answer.status_code == 422
    assert "Nothing to save" in answer.get_data(as_text=True)
