from __future__ import annotations

import pytest

from commerce.catalog.queries import ProductFilter, list_products
from commerce.catalog.taxonomy import (
    add_to_collection,
    category_tree,
    create_category,
    create_collection,
    delete_category,
    update_category,
    update_collection,
)
from commerce.errors import ValidationError


def test_tree_paths_follow_moves(make_category):
    apparel = make_category("Apparel")
    men = make_category("Men", parent=apparel)
    shirts = make_category("Shirts", parent=men)
    assert shirts.full_name == "Apparel / Men / Shirts"
    home = make_category("Home")
    update_category(men, parent_id=home.id, by=None)
    assert shirts.full_name == "Home / Men / Shirts"
    assert shirts.path_ids == f"/{home.id}/{men.id}/{shirts.id}/"
    assert [c.name for c in category_tree()] == ["Apparel", "Home", "Men", "Shirts"]


def test_category_cannot_move_into_itself(make_category):
    top = make_category("Top")
    child = make_category("Child", parent=top)
    with pytest.raises(ValidationError) as caught:
        update_category(top, parent_id=child.id, by=None)
    assert "parent_id" in caught.value.errors


def test_delete_category_with_children_is_refused_and_products_are_released(
    make_category, make_product
):
    top = make_category("Top")
    make_category("Child", parent=top)
    with pytest.raises(ValidationError):
        delete_category(top, by=None)
    lone = make_category("Lone")
    product = make_product(category_id=lone.id)
    assert delete_category(lone, by=None) == 1
    assert product.category_id is None


def test_duplicate_category_handle(make_category):
    make_category("Shoes", handle="shoes")
    with pytest.raises(ValidationError) as caught:
        create_category(name="Other", handle="shoes", by=None)
    assert "handle" in caught.value.errors


def test_manual_collection_membership(make_product):
    a, b = make_product(), make_product()
    collection = create_collection(title="Staff picks", by=None)
    assert add_to_collection(collection, [a.id, b.id, a.id], by=None) == 2
    assert add_to_collection(collection, [a.id], by=None) == 0
    assert list_products(ProductFilter(collection_id=collection.id)).total == 2


def test_rule_collection(make_product):
    cheap = make_product(price=900, tags="summer")
    make_product(price=9000, tags="summer")
    collection = create_collection(
        title="Cheap summer",
        kind="rule",
        match="all",
        rules=[
            {"field": "tag", "op": "equals", "value": "summer"},
            {"field": "price", "op": "less_than", "value": 1000},
        ],
        by=None,
    )
    assert [p.id for p in list_products(ProductFilter(collection_id=collection.id)).items] == [
        cheap.id
    ]
    update_collection(collection, match="any", by=None)
    assert list_products(ProductFilter(collection_id=collection.id)).total == 2


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "colour", "op": "equals", "value": "x"},
        {"field": "price", "op": "contains", "value": "1"},
        {"field": "price", "op": "less_than", "value": "abc"},
        {"field": "vendor", "op": "equals", "value": ""},
        {"field": "category", "op": "equals", "value": 999999},
    ],
)
def test_bad_rules_are_refused(rule):
    with pytest.raises(ValidationError) as caught:
        create_collection(title="Bad", kind="rule", rules=[rule], by=None)
    assert ("rules", 0) in caught.value.errors


def test_rule_collection_needs_rules():
    with pytest.raises(ValidationError) as caught:
        create_collection(title="Empty", kind="rule", rules=[], by=None)
    assert "rules" in caught.value.errors
