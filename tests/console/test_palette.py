"""Ctrl+K, the command palette, through HTTP: what each role is offered (pages, actions,
products, SKUs, barcodes, orders, customers), the ranking, the empty state and the statement
budget of one query."""

from __future__ import annotations

from typing import Any

import pytest

from commerce.extensions import db
from tests.commerce.orders.test_queries import build_order
from tests.conftest import count_queries, htmx_headers


def found(client: Any, q: str) -> list[dict[str, Any]]:
    response = client.get(
        "/console/jump", query_string={"q": q}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def labels(results: list[dict[str, Any]]) -> list[str]:
    return [r["label"] for r in results]


@pytest.mark.parametrize(
    ("role", "offered", "withheld"),
    [
        ("admin", {"New promotion", "Receive stock", "New product", "Import products"}, set()),
        ("merchandiser", {"New promotion", "New product", "Import products"}, {"Receive stock"}),
        ("warehouse", {"Receive stock", "Stock"}, {"New promotion", "New product"}),
        ("support", {"Orders", "Customers"}, {"New promotion", "Receive stock", "New product"}),
    ],
)
def test_pages_and_actions_follow_the_role(client, login, role, offered, withheld):
    login(role)
    everything = set()
    for q in ("new", "receive", "stock", "orders", "customers", "import", "promotion"):
        everything |= set(labels(found(client, q)))
    assert offered <= everything
    assert not (withheld & everything)


@pytest.mark.parametrize("role", ["admin", "merchandiser", "warehouse", "support"])
def test_every_result_opens_for_the_member(client, login, make_product, checkout_shop, role):
    order = build_order(checkout_shop, email="opener@example.com", name="Olive Opener")
    make_product(title="Opener Kit", sku="OPN-1")
    login(role)
    for q in ("ope", f"#{order.number}", "stock", "new", "e"):
        for result in found(client, q):
            assert client.get(result["url"], follow_redirects=True).status_code == 200, (
                role,
                result,
            )


def test_orders_by_number_with_or_without_hash(client, login, checkout_shop):
    order = build_order(checkout_shop, email="numbered@example.com", name="Nora Number")
    login("support")
    for q in (f"#{order.number}", str(order.number)):
        results = found(client, q)
        assert results[0]["kind"] == "Order"
        assert results[0]["url"].endswith(f"/console/orders/{order.id}")


def test_orders_and_customers_by_email_or_name(client, login, checkout_shop, make_customer):
    build_order(checkout_shop, email="grace.h@example.com", name="Grace Hopper")
    customer = make_customer(email="grace.h@example.com", name="Grace Hopper")
    login("support")
    kinds = {r["kind"] for r in found(client, "grace.h@example.com")}
    assert kinds == {"Order", "Customer"}
    by_name = found(client, "hopper")
    assert any(r["url"].endswith(f"/console/customers/{customer.id}") for r in by_name)


def test_roles_without_orders_see_no_orders_or_customers(client, login, checkout_shop):
    order = build_order(checkout_shop, email="hidden@example.com", name="Hidden Buyer")
    login("merchandiser")
    assert not [r for r in found(client, f"#{order.number}") if r["kind"] == "Order"]
    assert not [
        r for r in found(client, "hidden@example.com") if r["kind"] in ("Order", "Customer")
    ]


def test_products_skus_and_barcodes(client, login, make_product):
    product = make_product(title="Barcode Lamp", sku="LAMP-77")
    product.variants[0].barcode = "4006381333931"
    db.session.commit()
    login("support")  # reads the catalog
    assert found(client, "4006381333931")[0]["kind"] == "Barcode"
    assert found(client, "LAMP-77")[0]["kind"] == "SKU"
    assert any(r["kind"] == "Product" for r in found(client, "barcode lamp"))


def test_exact_then_prefix_then_contains(client, login, make_product):
    make_product(title="Big Stock Crate")  # contains "stock"
    make_product(title="Stockholm Mug")  # starts with it
    login("admin")
    results = labels(found(client, "stock"))
    assert (
        results.index("Stock") < results.index("Stockholm Mug") < results.index("Big Stock Crate")
    )


def test_empty_query_and_no_match(client, login):
    login("support")
    assert found(client, "") == []
    response = client.get("/console/jump", query_string={"q": "zzqqxx"}, headers=htmx_headers())
    body = response.get_data(as_text=True)
    assert "Nothing matches" in body and "zzqqxx" in body


def test_fragment_is_a_listbox_of_options(client, login):
    login("admin")
    body = client.get("/console/jump?q=orders", headers=htmx_headers()).get_data(as_text=True)
    assert 'role="option"' in body and 'id="jump-option-1"' in body
    page = client.get("/console/").get_data(as_text=True)
    assert 'role="combobox"' in page and 'aria-controls="jump-results"' in page


def test_one_query_stays_within_its_statement_budget(client, login, make_product, checkout_shop):
    build_order(checkout_shop, email="budget@example.com", name="Bud Get")
    for n in range(6):
        make_product(title=f"Budget Item {n}", sku=f"BUD-{n}")
    login("admin")
    with count_queries() as statements:
        found(client, "bud")
    # Session and member (2), SKUs and products (2), orders (1), customers (1).
    assert statements.round_trips <= 7, statements.describe()
