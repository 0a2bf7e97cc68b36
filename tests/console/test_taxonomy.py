from __future__ import annotations

import re

from sqlalchemy import select

from commerce.catalog.models import Category, Collection
from commerce.extensions import db
from tests.conftest import count_queries


def test_category_crud(client, login, make_product):
    login("merchandiser")
    response = client.post("/console/categories/new", data={"name": "Apparel"})
    assert response.status_code == 303
    apparel = db.session.scalar(select(Category).where(Category.handle == "apparel"))
    client.post("/console/categories/new", data={"name": "Shirts", "parent_id": str(apparel.id)})
    shirts = db.session.scalar(select(Category).where(Category.handle == "shirts"))
    assert shirts.full_name == "Apparel / Shirts"
    page = client.get("/console/categories").get_data(as_text=True)
    assert "Shirts" in page and "depth-1" in page
    bad = client.post(
        f"/console/categories/{apparel.id}", data={"name": "Apparel", "parent_id": str(shirts.id)}
    )
    assert bad.status_code == 422 and "cannot move inside itself" in bad.get_data(as_text=True)
    refused = client.post(f"/console/categories/{apparel.id}/delete")
    assert refused.status_code == 303 and db.session.get(Category, apparel.id) is not None
    product = make_product(category_id=shirts.id)
    shirts_id = shirts.id
    client.post(f"/console/categories/{shirts_id}/delete")
    assert db.session.get(Category, shirts_id) is None and product.category_id is None


def test_category_bad_input(client, login):
    login("merchandiser")
    response = client.post("/console/categories/new", data={"name": "", "handle": "Bad Handle"})
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)
    response = client.post("/console/categories/new", data={"name": "Ok", "handle": "Bad Handle"})
    assert response.status_code == 422 and "Use lowercase letters" in response.get_data(
        as_text=True
    )


def test_rule_collection_from_the_form(client, login, make_product):
    login("merchandiser")
    cheap = make_product(price=900, tags="summer")
    make_product(price=9000)
    response = client.post(
        "/console/collections/new",
        data={
            "title": "Summer under 10",
            "kind": "rule",
            "match": "all",
            "rule_field": ["tag", "price", ""],
            "rule_op": ["equals", "less_than", "equals"],
            "rule_value": ["summer", "10.00", ""],
        },
    )
    assert response.status_code == 303
    collection = db.session.scalar(select(Collection).where(Collection.handle == "summer-under-10"))
    assert collection.rules == [
        {"field": "tag", "op": "equals", "value": "summer"},
        {"field": "price", "op": "less_than", "value": 1000},
    ]
    page = client.get(f"/console/collections/{collection.id}").get_data(as_text=True)
    assert cheap.title in page and 'value="10.00"' in page


def test_bad_rule_is_reported_at_its_row(client, login):
    login("merchandiser")
    response = client.post(
        "/console/collections/new",
        data={
            "title": "Broken",
            "kind": "rule",
            "match": "all",
            "rule_field": ["price"],
            "rule_op": ["contains"],
            "rule_value": ["5"],
        },
    )
    assert response.status_code == 422
    assert "Price rules cannot use “contains”" in response.get_data(as_text=True)
    assert db.session.scalar(select(Collection)) is None


def test_manual_collection_picker_and_membership(client, login, make_product):
    login("merchandiser")
    client.post(
        "/console/collections/new", data={"title": "Picks", "kind": "manual", "match": "all"}
    )
    collection = db.session.scalar(select(Collection))
    product = make_product("Findable Lamp")
    picker = client.get(
        f"/console/collections/{collection.id}/picker?q=lamp", headers={"HX-Request": "true"}
    )
    assert f'value="{product.id}"' in picker.get_data(as_text=True)
    client.post(
        f"/console/collections/{collection.id}/products",
        data={"op": "add", "product_ids": [product.id]},
    )
    assert "Findable Lamp" in client.get(f"/console/collections/{collection.id}").get_data(
        as_text=True
    )
    client.post(
        f"/console/collections/{collection.id}/products",
        data={"op": "remove", "product_ids": [product.id]},
    )
    assert "No products in this collection yet" in client.get(
        f"/console/collections/{collection.id}"
    ).get_data(as_text=True)


def test_the_collections_list_counts_in_a_fixed_number_of_queries(client, login, make_product):
    """No query per collection: the counts of manual and rule-based collections each come
    from one query, whether the list holds two collections or ten, and each is right."""
    from commerce.catalog import queries
    from commerce.catalog.taxonomy import add_to_collection, create_collection

    login("merchandiser")
    summer = [make_product(price=900 + n, tags="summer") for n in range(3)]
    make_product(price=9000, vendor="Acme")

    def make(n: int) -> None:
        manual = create_collection(title=f"Picks {n}", by=None)
        add_to_collection(manual, [p.id for p in summer[: 1 + n % 3]], by=None)
        rules = [{"field": "tag", "op": "equals", "value": "summer"}]
        if n % 2:
            rules.append({"field": "price", "op": "less_than", "value": 901})
        create_collection(title=f"Rules {n}", kind="rule", rules=rules, by=None)

    def listed() -> tuple[str, int]:
        queries._counts_cache.clear()  # the rule counts are read, not remembered
        with count_queries() as statements:
            response = client.get("/console/collections")
        assert response.status_code == 200
        return response.get_data(as_text=True), len(statements)

    make(0)
    _page, few = listed()
    for n in range(1, 5):
        make(n)
    page, many = listed()
    assert many == few
    counts = [int(c) for c in re.findall(r'collection=\d+">(\d+)</a>', page)]
    assert counts == [1, 2, 3, 1, 2, 3, 1, 3, 1, 3]


def test_rule_collection_counts_in_one_query(app, make_product):
    from commerce.catalog import queries
    from commerce.catalog.taxonomy import create_collection

    make_product(price=500, tags="summer", vendor="Acme")
    make_product(price=1500, tags="summer")
    make_product(price=2500, vendor="Acme")
    rules = [
        [{"field": "tag", "op": "equals", "value": "summer"}],
        [{"field": "vendor", "op": "equals", "value": "Acme"}],
        [{"field": "price", "op": "greater_than", "value": 1000}],
        [{"field": "title", "op": "contains", "value": "no such title"}],
    ]
    for n, r in enumerate(rules):
        create_collection(title=f"Rule {n}", kind="rule", rules=r, by=None)
    collections = list(db.session.scalars(select(Collection).order_by(Collection.id)))
    queries._counts_cache.clear()
    with count_queries() as statements:
        counts = queries.rule_collection_counts(collections)
    assert [counts[c.id] for c in collections] == [2, 2, 2, 0]
    assert len(statements) == 2, statements.describe()  # the products' last change, the counts
