"""Names, money and plain words for people, not raw ids, minor units or keys (issue 16: 10)."""

from __future__ import annotations

from sqlalchemy import select

from commerce import audit
from commerce.catalog.models import Collection
from commerce.catalog.taxonomy import create_collection
from commerce.extensions import db


def test_collection_rules_read_as_names_and_money(client, login, make_category):
    login("merchandiser")
    apparel = make_category("Apparel")
    tops = make_category("Tops", parent=apparel)
    create_collection(
        title="Cheap tops",
        kind="rule",
        rules=[
            {"field": "category", "op": "equals", "value": tops.id},
            {"field": "price", "op": "less_than", "value": 2500},
        ],
        by=None,
    )
    page = client.get("/console/collections").get_data(as_text=True)
    assert "Category is Apparel / Tops" in page or "Category is Tops" in page
    assert "Price is less than $25.00" in page
    assert f"category equals {tops.id}" not in page and "2500" not in page


def test_a_category_rule_is_picked_from_a_list(client, login, make_category, make_product):
    login("merchandiser")
    tops = make_category("Tops")
    form = client.get("/console/collections/new").get_data(as_text=True)
    assert 'name="rule_category"' in form and f'<option value="{tops.id}"' in form
    assert "category id" not in form
    response = client.post(
        "/console/collections/new",
        data={
            "title": "All tops",
            "kind": "rule",
            "match": "all",
            "rule_field": ["category", ""],
            "rule_op": ["equals", "equals"],
            "rule_value": ["", ""],
            "rule_category": [str(tops.id), ""],
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    collection = db.session.scalar(select(Collection).where(Collection.title == "All tops"))
    assert collection.rules == [{"field": "category", "op": "equals", "value": tops.id}]
    page = client.get(f"/console/collections/{collection.id}").get_data(as_text=True)
    assert f'<option value="{tops.id}" selected>' in page


def test_the_audit_log_shows_money_and_hides_internal_ids_and_tokens(client, login):
    login("admin")
    audit.record(
        None,
        "order.capture",
        subject_type="order",
        subject_id=7,
        subject_label="#1007",
        before={"captured_amount": 0, "line_ids": [], "checkout_token": None},
        after={
            "captured_amount": 34497,
            "line_ids": [81, 82],
            "checkout_token": "tok-4f9a2c",
            "lines": [{"order_line_id": 81, "quantity": 2}],
        },
    )
    audit.record(
        None,
        "checkout.released",
        subject_type="checkout",
        subject_id=9,
        subject_label="chk-9f8e7d6c5b4a",
        before={"status": "placing"},
        after={"status": "open"},
    )
    db.session.commit()
    page = client.get("/console/audit").get_data(as_text=True)
    assert "Captured amount" in page and "$344.97" in page
    assert "Order: capture" in page and "Order #1007" in page
    assert "chk-9f8e7d6c5b4a" not in page and "Checkout: released" in page
    assert "34497" not in page and "tok-4f9a2c" not in page
    assert "line_ids" not in page and "81, 82" not in page
    assert "quantity: 2" in page


def test_the_staff_screen_names_permissions_in_words(client, login):
    login("admin")
    page = client.get("/console/staff/new").get_data(as_text=True)
    assert "Bulk edit products" in page
    assert "catalog.bulk_edit" not in page
