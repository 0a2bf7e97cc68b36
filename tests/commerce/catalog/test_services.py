"""Catalog services: validation before writing, audit and outbox on every change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.catalog.models import Product, Variant
from commerce.catalog.services import (
    add_variant,
    bulk_update_products,
    create_product,
    delete_variant,
    generate_variants,
    set_options,
    update_product,
    update_variant,
)
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.outbox import OutboxEvent


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_product_records_audit_and_outbox(make_staff):
    staff = make_staff("merchandiser")
    product = create_product(
        title="  Linen   Shirt ", price=1999, sku="LIN-1", tags="summer, Linen, summer", by=staff
    )
    assert product.title == "Linen Shirt"
    assert product.handle == "linen-shirt"
    assert sorted(product.tags) == ["Linen", "summer"]
    assert product.min_price == product.max_price == 1999
    assert product.currency == "USD"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "product.create"))
    assert entry.actor_id == staff.id and entry.after["title"] == "Linen Shirt"
    assert db.session.scalar(
        select(OutboxEvent).where(OutboxEvent.topic == "product.changed")
    ).payload == {"product_id": product.id, "created": True}  # webhooks: product.created


def test_handle_is_made_unique_from_the_title(make_product):
    first = make_product("Canvas Tote")
    second = make_product("Canvas Tote")
    assert (first.handle, second.handle) == ("canvas-tote", "canvas-tote-2")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "Ok", "price": -1}, "price"),
        ({"title": "Ok", "handle": "Not A Handle"}, "handle"),
        ({"title": "Ok", "category_id": 999999}, "category_id"),
        ({"title": "Ok", "status": "published"}, "status"),
        ({"title": "Ok", "sku": "has space"}, "sku"),
        ({"title": "Ok", "compare_at_price": -5}, "compare_at_price"),
    ],
)
def test_bad_input_is_refused_at_its_field_and_nothing_is_saved(kwargs, field):
    kwargs.setdefault("price", 100)
    before = count(Product)
    with pytest.raises(ValidationError) as caught:
        create_product(by=None, **kwargs)
    assert field in caught.value.errors
    assert count(Product) == before


def test_duplicate_sku_is_refused(make_product):
    make_product(sku="DUP-1")
    with pytest.raises(ValidationError) as caught:
        create_product(title="Other", price=100, sku="DUP-1", by=None)
    assert "already used" in caught.value.errors["sku"][0]
    product = make_product(sku="OTHER-1")
    with pytest.raises(ValidationError):
        update_variant(product.variants[0], sku="DUP-1", by=None)


def test_duplicate_handle_is_refused(make_product):
    make_product("Taken", handle="taken")
    other = make_product("Other")
    with pytest.raises(ValidationError) as caught:
        update_product(other, handle="taken", by=None)
    assert caught.value.errors["handle"]


def test_description_is_sanitized():
    product = create_product(
        title="Safe",
        price=100,
        by=None,
        description='<p onclick="x()">Hi<script>alert(1)</script></p>',
        description_format="html",
    )
    assert "script" not in product.description_html and "onclick" not in product.description_html
    assert "Hi" in product.description_html


def test_markdown_description_renders():
    product = create_product(
        title="Md", price=100, by=None, description="**Bold** and [link](https://x.test)"
    )
    assert "<strong>Bold</strong>" in product.description_html
    assert 'rel="noopener nofollow"' in product.description_html


def test_generate_variant_matrix_keeps_the_default_variant(make_product):
    product = make_product("Tee", sku="TEE", price=2500)
    default_id = product.variants[0].id
    set_options(product, [("Size", ["S", "M"]), ("Colour", ["Blue", "Sand"])], by=None)
    created = generate_variants(product, by=None)
    assert len(created) == 3
    titles = sorted(v.title for v in product.variants)
    assert titles == ["M / Blue", "M / Sand", "S / Blue", "S / Sand"]
    assert product.variants[0].id == default_id and product.variants[0].sku == "TEE"
    assert generate_variants(product, by=None) == []  # nothing missing any more


def test_options_are_validated(make_product):
    product = make_product()
    with pytest.raises(ValidationError) as caught:
        set_options(product, [("Size", [])], by=None)
    assert "option1_values" in caught.value.errors
    with pytest.raises(ValidationError):
        set_options(product, [("Size", ["S"]), ("size", ["M"])], by=None)
    with pytest.raises(ValidationError):
        set_options(product, [("A", ["1"]), ("B", ["1"]), ("C", ["1"]), ("D", ["1"])], by=None)


def test_add_variant_needs_a_new_option_combination(make_product):
    product = make_product(options=[("Size", ["S", "M"])])
    with pytest.raises(ValidationError):
        add_variant(product, options=["S"], price=100, by=None)
    with pytest.raises(ValidationError):
        add_variant(product, options=["XL"], price=100, by=None)


def test_price_range_follows_variant_changes(make_product):
    product = make_product(options=[("Size", ["S", "M"])], price=1000)
    update_variant(product.variants[1], price=1500, by=None)
    assert (product.min_price, product.max_price, product.variant_count) == (1000, 1500, 2)


def test_last_variant_cannot_be_deleted(make_product):
    product = make_product()
    with pytest.raises(ValidationError):
        delete_variant(product.variants[0], by=None)


def test_update_records_before_and_after(make_product, make_staff):
    staff = make_staff()
    product = make_product("Before")
    update_product(product, title="After", by=staff)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "product.update"))
    assert entry.before["title"] == "Before" and entry.after["title"] == "After"
    assert entry.changes() == [("title", "Before", "After")]


def test_unchanged_update_writes_no_audit(make_product):
    product = make_product("Same")
    update_product(product, title="Same", by=None)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "product.update")
        )
        == 0
    )


class TestBulk:
    def test_archive_reports_changed_count(self, make_product):
        products = [make_product(status="active") for _ in range(3)]
        already = make_product(status="archived")
        result = bulk_update_products(
            [p.id for p in [*products, already]], action="archive", by=None
        )
        assert (result.selected, result.changed) == (4, 3)
        assert "3 products changed" in result.message
        assert all(p.status == "archived" for p in products)

    def test_tags_and_category(self, make_product, make_category):
        products = [make_product() for _ in range(2)]
        ids = [p.id for p in products]
        assert bulk_update_products(ids, action="add_tag", tag="sale", by=None).changed == 2
        assert bulk_update_products(ids, action="add_tag", tag="Sale", by=None).changed == 0
        assert bulk_update_products(ids, action="remove_tag", tag="sale", by=None).changed == 2
        category = make_category("Shoes")
        assert (
            bulk_update_products(
                ids, action="set_category", category_id=category.id, by=None
            ).changed
            == 2
        )

    def test_price_change_by_percent_rounds_half_even(self, make_product):
        product = make_product(price=1005)
        bulk_update_products([product.id], action="change_price", percent=Decimal("-10"), by=None)
        assert product.variants[0].price == 904  # 904.5 -> 904 (half to even)

    def test_negative_result_changes_nothing(self, make_product):
        cheap = make_product(price=100)
        dear = make_product(price=5000)
        with pytest.raises(ValidationError) as caught:
            bulk_update_products([dear.id, cheap.id], action="change_price", amount=-500, by=None)
        assert "negative" in caught.value.message
        db.session.expire_all()
        assert db.session.get(Variant, dear.variants[0].id).price == 5000
        assert db.session.get(Variant, cheap.variants[0].id).price == 100

    def test_unknown_category_and_empty_selection(self, make_product):
        product = make_product()
        with pytest.raises(ValidationError) as caught:
            bulk_update_products([product.id], action="set_category", category_id=424242, by=None)
        assert "category_id" in caught.value.errors
        with pytest.raises(ValidationError):
            bulk_update_products([], action="archive", by=None)
        with pytest.raises(ValidationError):
            bulk_update_products([product.id], action="explode", by=None)


def test_create_with_collections():
    from commerce.catalog.services import product_collection_ids
    from commerce.catalog.taxonomy import create_collection

    picks = create_collection(title="Picks", by=None)
    product = create_product(title="Chosen", price=100, collection_ids=[picks.id], by=None)
    assert product_collection_ids(product) == [picks.id]
    with pytest.raises(ValidationError) as caught:
        create_product(title="Nope", price=100, collection_ids=[987654], by=None)
    assert "collection_ids" in caught.value.errors
