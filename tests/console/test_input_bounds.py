"""Out-of-range numbers and oversized text (the probe's replay): a 20-digit weight, price or
position, a 3 MB description, 2,000 tags. Each answers 422 with a message at the field and
writes nothing, through the console, the catalog CSV import and the shop's cart; never a 500
from a database overflow."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.bounds import INT_MAX, MAX_DESCRIPTION, MAX_TAGS, check_id, check_int
from commerce.catalog.csv_import import apply_import
from commerce.catalog.models import Product, Variant
from commerce.errors import ValidationError
from commerce.extensions import db
from tests.conftest import htmx_headers

HUGE = "9" * 20
OVER_INT = str(INT_MAX + 1)


def text(response) -> str:
    return response.get_data(as_text=True)


def products() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Product)) or 0)


@pytest.mark.parametrize("value", [HUGE, OVER_INT, "10000001", "-" + HUGE])
def test_a_huge_weight_in_a_variant_cell_is_refused_at_the_field(
    client, login, make_product, value
):
    login("merchandiser")
    variant = make_product(sku="W-1").variants[0]
    answer = client.post(
        f"/console/variants/{variant.id}/cells/weight_grams",
        data={"value": value},
        headers=htmx_headers(),
    )
    assert answer.status_code == 422, text(answer)[:300]
    assert "grams" in text(answer)
    db.session.expire_all()
    assert db.session.get(Variant, variant.id).weight_grams is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", HUGE, "is not an amount"),
        ("price", "99999999999.00", "at most"),
        ("price", "1000000.01", "A price is at most 1000000.00"),
        ("weight_grams", HUGE, "whole grams from 0 to 10,000,000"),
        ("weight_grams", "10000001", "whole grams from 0 to 10,000,000"),
        ("description", "x" * (MAX_DESCRIPTION + 1), "at most 100,000 characters"),
        ("tags", ", ".join(f"tag{i}" for i in range(2000)), f"at most {MAX_TAGS} tags"),
    ],
)
def test_new_product_fields_have_bounds(client, login, field, value, message):
    login("merchandiser")
    data = {"title": "Bounded", "status": "draft", "price": "10.00", field: value}
    answer = client.post("/console/products/new", data=data)
    assert answer.status_code == 422, text(answer)[:300]
    assert message in text(answer)
    assert 'aria-invalid="true"' in text(answer)
    assert products() == 0


def test_a_three_megabyte_description_is_refused(client, login, make_product):
    login("merchandiser")
    product = make_product("Kept")
    answer = client.post(
        f"/console/products/{product.id}",
        data={"title": "Kept", "status": "draft", "description": "x" * 3_000_000},
    )
    assert answer.status_code == 422
    assert "at most 100,000 characters" in text(answer)
    db.session.expire_all()
    assert db.session.get(Product, product.id).description == ""


def test_bulk_price_changes_stay_within_prices(client, login, make_product):
    login("merchandiser")
    product = make_product(price=1000)
    for mode, value in (("percent", "1e30"), ("percent", "NaN"), ("amount", HUGE)):
        answer = client.post(
            "/console/products/bulk",
            data={
                "ids": str(product.id),
                "action": "change_price",
                "price_mode": mode,
                "price_value": value,
            },
        )
        assert answer.status_code in (303, 422), (mode, value, answer.status_code)
    db.session.expire_all()
    assert db.session.get(Product, product.id).variants[0].price == 1000


@pytest.mark.parametrize(
    "data",
    [
        {"position": HUGE},
        {"brackets": f"{HUGE} 4.00"},
        {"price": HUGE},
        {"free_over": "99999999999999"},
    ],
)
def test_shipping_method_numbers_have_bounds(client, login, data):
    login("admin")
    form = {
        "name": "Standard",
        "code": "std",
        "kind": "weight" if "brackets" in data else "flat",
        "countries": "de",
        "price": "4.95",
        "free_over": "",
        "position": "1",
        "is_active": "y",
        "brackets": "",
        **data,
    }
    answer = client.post("/console/settings/shipping/new", data=form)
    assert answer.status_code == 422, text(answer)[:300]


def test_tax_rate_and_category_position_have_bounds(client, login):
    login("admin")
    rate = {"country": "DE", "region": "", "name": "VAT", "rate_bps": "1" + "0" * 30}
    assert client.post("/console/settings/taxes/new", data=rate).status_code == 422
    category = {"name": "Shirts", "position": HUGE}
    assert client.post("/console/categories/new", data=category).status_code == 422


def test_csv_import_refuses_huge_numbers_at_the_cell(app, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(
        "handle,title,sku,price,weight_grams\n"
        f"a,Alpha,A-1,10.00,{HUGE}\n"
        f"b,Beta,B-1,{HUGE},100\n"
        "c,Gamma,C-1,10.00,10000001\n"
        f"d,Delta,D-1,10.00,{'9' * 5000}\n",
        encoding="utf-8",
    )
    report = apply_import(path, by=None)
    assert not report.ok
    cells = {(e.row, e.column) for e in report.errors}
    assert {(2, "weight_grams"), (3, "price"), (4, "weight_grams"), (5, "weight_grams")} <= cells
    assert products() == 0


@pytest.mark.parametrize(
    ("variant", "quantity"), [(None, HUGE), (None, "9" * 5000), (HUGE, "1"), (OVER_INT, "1")]
)
def test_the_cart_refuses_huge_quantities_and_ids(client, make_product, variant, quantity):
    product = make_product(status="active")
    data = {"variant_id": variant or product.variants[0].id, "quantity": quantity}
    answer = client.post("/cart/add", data=data)
    assert answer.status_code in (404, 422), answer.status_code


def test_check_int_and_check_id():
    assert check_int("12", field="f") == 12
    for bad in ("", "x", HUGE, "-1", "9" * 5000, True, 1.5):
        with pytest.raises(ValidationError):
            check_int(bad, field="f")
    assert check_id("7") == 7
    assert [check_id(v) for v in (HUGE, "0", "-3", "x", None)] == [None] * 5


@pytest.mark.parametrize(
    "url",
    [
        f"/console/products/{HUGE}",
        f"/console/orders/{OVER_INT}",
        f"/console/products?category={HUGE}",
        f"/console/inventory?location={HUGE}",
        f"/console/products?page={HUGE}",
    ],
)
def test_huge_ids_in_urls_find_nothing(client, login, url):
    login("admin")
    assert client.get(url).status_code in (200, 404)


def test_huge_ids_in_shop_urls_find_nothing(client):
    assert client.get(f"/orders/{HUGE}/return").status_code in (404, 405)
    assert client.post(f"/cart/lines/{HUGE}", data={"quantity": "1"}).status_code == 404


def test_huge_ids_and_numbers_in_console_forms_never_overflow(client, login, make_product, place):
    """Every form field that names a row or a count, given 20 digits: a message or nothing
    found, never a database overflow (the test client raises it as an error)."""
    from commerce.catalog.taxonomy import add_to_collection, create_collection

    login("admin")
    product = make_product(status="active")
    collection = create_collection(title="Summer", by=None)
    add_to_collection(collection, [product.id], by=None)
    order = place(2)
    line = order.lines[0]
    cases = [
        (f"/console/collections/{collection.id}/order", {"move": HUGE, f"to-{HUGE}": "1"}),
        (f"/console/collections/{collection.id}/products", {"product_ids": HUGE}),
        (f"/console/collections/{collection.id}/pins", {"product_id": HUGE}),
        (f"/console/orders/{order.id}/refund", {f"qty-{line.id}": HUGE, "reason": "x"}),
        (f"/console/orders/{order.id}/refund", {"extra_amount": HUGE, "reason": "x"}),
        (f"/console/orders/{order.id}/edit", {f"qty-{line.id}": HUGE}),
        ("/console/products/bulk", {"ids": HUGE, "action": "archive"}),
        ("/console/products/new", {"title": "T", "price": "1.00", "category_id": HUGE}),
        ("/console/categories/new", {"name": "N", "parent_id": HUGE}),
        (f"/console/products/{product.id}", {"title": "T", "category_id": HUGE}),
        ("/console/inventory/receive", {"code": "x", "location_id": HUGE, "quantity": HUGE}),
        ("/console/inventory/adjust", {"code": "x", "location_id": HUGE, "quantity": HUGE}),
        (
            "/console/inventory/locations/new",
            {"name": "X", "code": "X1", "kind": "warehouse", "priority": HUGE},
        ),
    ]
    answers = {url: client.post(url, data=data).status_code for url, data in cases}
    assert all(status < 500 for status in answers.values()), answers
