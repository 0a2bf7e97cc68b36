"""Categories, collections and media through the API: the taxonomy and media services, with
keyset pages, If-Match on changes, problems at the field, and the token in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db

CATS, COLLS = "/api/v1/categories", "/api/v1/collections"


def test_categories_tree_pages_and_filters(api, make_category):
    top = make_category("Clothing")
    tops = make_category("Tops", parent=top)
    make_category("Shoes")
    seen, url = [], f"{CATS}?limit=2"
    while url:
        body = api.get(url).get_json()
        seen += body["data"]
        url = body["links"]["next"]
    assert [c["name"] for c in seen] == ["Clothing", "Tops", "Shoes"]
    child = api.get(f"{CATS}?parent_id={top.id}").get_json()["data"]
    assert [(c["id"], c["full_name"], c["depth"]) for c in child] == [
        (tops.id, "Clothing / Tops", 1)
    ]
    assert [c["name"] for c in api.get(f"{CATS}?top_level=true").get_json()["data"]] == [
        "Clothing",
        "Shoes",
    ]


def test_create_and_move_a_category_with_if_match(api, make_category):
    top = make_category("Clothing")
    made = api.post(CATS, json={"name": "Hats"})
    assert made.status_code == 201, made.get_data(as_text=True)
    url = made.headers["Location"]
    etag = api.get(url).headers["ETag"]
    assert api.patch(url, json={"parent_id": top.id}).status_code == 428
    moved = api.patch(url, json={"parent_id": top.id}, headers={"If-Match": etag})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert moved.get_json()["full_name"] == "Clothing / Hats"
    stale = api.patch(url, json={"name": "Caps"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "category.update")
    ).one()
    assert entry.actor_token_id == api.token.id


def test_category_errors_point_at_fields(api, make_category):
    make_category("Clothing", handle="clothing")
    response = api.post(CATS, json={"name": "Clothes", "handle": "clothing"})
    assert response.status_code in (409, 422)
    assert response.mimetype == "application/problem+json"
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/handle"
    missing = api.post(CATS, json={"name": "Sub", "parent_id": 999999})
    assert missing.status_code == 422
    assert missing.get_json(force=True)["errors"][0]["pointer"] == "/parent_id"


def test_collections_manual_members_and_rules(api, make_product):
    shirt = make_product("Shirt")
    made = api.post(COLLS, json={"title": "Summer"})
    assert made.status_code == 201, made.get_data(as_text=True)
    summer = made.get_json()
    assert summer["kind"] == "manual" and summer["sort"] == "manual"
    added = api.post(f"{COLLS}/{summer['id']}/products", json={"product_ids": [shirt.id]})
    assert added.get_json() == {"collection_id": summer["id"], "changed": 1}
    removed = api.post(f"{COLLS}/{summer['id']}/products/remove", json={"product_ids": [shirt.id]})
    assert removed.get_json()["changed"] == 1

    rule = {"field": "vendor", "op": "equals", "value": "Acme"}
    smart = api.post(COLLS, json={"title": "Acme", "kind": "rule", "rules": [rule]})
    assert smart.status_code == 201, smart.get_data(as_text=True)
    assert smart.get_json()["rules"] == [rule] and smart.get_json()["sort"] == "newest"
    refused = api.post(f"{COLLS}/{smart.get_json()['id']}/products", json={"product_ids": [1]})
    assert refused.status_code == 422
    assert refused.get_json(force=True)["errors"][0]["pointer"] == "/product_ids"
    wrong = {**rule, "op": "less_than"}
    bad = api.post(COLLS, json={"title": "X", "kind": "rule", "rules": [wrong]})
    assert bad.status_code == 422
    assert bad.get_json(force=True)["errors"][0]["pointer"] == "/rules/0"
    assert [c["title"] for c in api.get(f"{COLLS}?kind=rule").get_json()["data"]] == ["Acme"]

    url = f"{COLLS}/{summer['id']}"
    etag = api.get(url).headers["ETag"]
    renamed = api.patch(url, json={"title": "Summer 27"}, headers={"If-Match": etag})
    assert renamed.status_code == 200 and renamed.get_json()["title"] == "Summer 27"


def test_media_list_and_add_by_url(api, make_product):
    product = make_product("Shirt")
    url = f"/api/v1/products/{product.id}/media"
    assert api.get(url).get_json() == {"data": []}
    added = api.post(url, json={"url": "https://cdn.example.com/shirt.jpg", "alt": "A shirt"})
    assert added.status_code == 201, added.get_data(as_text=True)
    media = added.get_json()
    assert media["kind"] == "external" and media["url"] == "https://cdn.example.com/shirt.jpg"
    assert api.get(url).get_json()["data"] == [media]
    bad = api.post(url, json={"url": "ftp://example.com/x.jpg"})
    assert bad.status_code == 422
    assert bad.get_json(force=True)["errors"][0]["pointer"] == "/url"


def test_catalog_scopes(api_as, make_category):
    reader = api_as("products:read")
    assert reader.get(CATS).status_code == 200
    assert reader.post(CATS, json={"name": "X"}).status_code == 403
    assert api_as("orders:read").get(COLLS).status_code == 403


def test_a_change_between_the_check_and_the_write_loses(make_category):
    """If-Match is checked again inside the write (a conditional UPDATE on updated_at), so a
    change landing between the API's check and its write refuses with 412."""
    import pytest

    from commerce.catalog.taxonomy import create_collection, update_category, update_collection
    from commerce.errors import StaleVersion

    category = make_category("Hats")
    read_at = category.updated_at
    update_category(category, name="Caps", by=None)  # someone else, meanwhile
    db.session.commit()
    assert category.updated_at != read_at  # microseconds apart at least
    with pytest.raises(StaleVersion):
        update_category(category, name="Beanies", by=None, expected_version=read_at)
    collection = create_collection(title="Summer", by=None)
    stale = collection.updated_at
    update_collection(collection, title="Summer 27", by=None)
    db.session.commit()
    assert collection.updated_at != stale
    with pytest.raises(StaleVersion):
        update_collection(collection, title="Winter", by=None, expected_version=stale)
    assert update_category(category, name="Beanies", by=None, expected_version=category.updated_at)
