"""Collection merchandising services: the shop order (sort), the hand-made order of a manual
collection (reorder, move, stale lists refused), pinned products, and the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.catalog import collection_order
from commerce.catalog.collection_order import (
    MAX_PINS,
    StaleOrder,
    member_ids,
    members_page,
    move_in_collection,
    pin_products,
    pinned,
    reorder_collection,
    reorder_pins,
    set_collection_sort,
    unpin_products,
)
from commerce.catalog.models import CollectionProduct
from commerce.catalog.services import update_product
from commerce.catalog.taxonomy import (
    add_to_collection,
    create_collection,
    remove_from_collection,
    update_collection,
)
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.outbox import OutboxEvent


def audits(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


@pytest.fixture
def manual(make_product, make_staff):
    """A manual collection of five products, added in order p0..p4."""
    products = [make_product(f"Item {i}", status="active") for i in range(5)]
    collection = create_collection(title="Hand picked", by=None)
    add_to_collection(collection, [p.id for p in products], by=None)
    return collection, [p.id for p in products]


@pytest.fixture
def staff(make_staff):
    return make_staff("merchandiser")


def rule_collection(tag: str = "summer"):
    return create_collection(
        title=f"Tagged {tag}",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": tag}],
        by=None,
    )


# -- sort ---------------------------------------------------------------------------------------


def test_new_collections_open_on_their_natural_sort(make_product):
    assert create_collection(title="Picks", by=None).sort == "manual"
    rule = rule_collection()
    assert rule.sort == "newest"
    assert create_collection(title="Cheap first", sort="price-asc", by=None).sort == "price-asc"
    with pytest.raises(ValidationError) as caught:
        create_collection(
            title="Bad",
            kind="rule",
            rules=[{"field": "tag", "op": "equals", "value": "x"}],
            sort="manual",
            by=None,
        )
    assert "sort" in caught.value.errors


def test_turning_a_manual_collection_rule_based_leaves_the_manual_sort(manual):
    collection, _ = manual
    update_collection(
        collection, kind="rule", rules=[{"field": "tag", "op": "equals", "value": "x"}], by=None
    )
    assert collection.sort == "newest"
    update_collection(collection, kind="manual", rules=[], by=None)
    assert collection.sort == "newest"  # still valid: the merchandiser chooses manual again


def test_set_sort_validates_and_audits(manual, staff):
    collection, _ = manual
    with pytest.raises(ValidationError) as caught:
        set_collection_sort(collection, "popular", by=staff)
    assert caught.value.errors == {"sort": ["Choose how the shop sorts this collection."]}

    assert set_collection_sort(collection, "best-selling", by=staff) is True
    assert collection.sort == "best-selling"
    entry = audits("collection.sort")[-1]
    assert (entry.before, entry.after, entry.actor_id) == (
        {"sort": "manual"},
        {"sort": "best-selling"},
        staff.id,
    )
    assert set_collection_sort(collection, "best-selling", by=staff) is False  # no change
    assert len(audits("collection.sort")) == 1

    rule = rule_collection()
    with pytest.raises(ValidationError) as caught:
        set_collection_sort(rule, "manual", by=staff)
    assert "no hand-made order" in caught.value.errors["sort"][0]
    assert rule.sort == "newest"
    for sort in ("best-selling", "price-asc", "price-desc", "title", "newest"):
        set_collection_sort(rule, sort, by=staff)
        assert rule.sort == sort


# -- the hand-made order ------------------------------------------------------------------------


def test_reorder_the_whole_list(manual, staff):
    collection, ids = manual
    new = [ids[3], ids[0], ids[4], ids[1], ids[2]]
    assert reorder_collection(collection, [str(i) for i in new], by=staff) is True
    assert member_ids(collection) == new
    positions = db.session.execute(
        select(CollectionProduct.product_id, CollectionProduct.position).where(
            CollectionProduct.collection_id == collection.id
        )
    ).all()
    assert sorted(pos for _, pos in positions) == [1, 2, 3, 4, 5]
    entry = audits("collection.reorder")[-1]
    assert entry.before == {"start": 0, "product_ids": ids}
    assert entry.after == {"start": 0, "product_ids": new}
    assert reorder_collection(collection, new, by=staff) is False  # the same order: no entry
    assert len(audits("collection.reorder")) == 1


def test_reorder_one_page_leaves_the_others(manual, staff):
    collection, ids = manual
    reorder_collection(collection, [ids[3], ids[2]], start=2, total=5, by=staff)
    assert member_ids(collection) == [ids[0], ids[1], ids[3], ids[2], ids[4]]
    page = members_page(collection, page=2, per_page=2)
    assert (page.start, page.ids, page.pages, page.total) == (2, [ids[3], ids[2]], 3, 5)
    assert [rank for rank, _ in page.rows] == [3, 4]
    assert members_page(collection, page=99, per_page=2).page == 3  # clamped to the last


def test_a_stale_list_is_refused_with_the_current_one(manual, staff, make_product):
    collection, ids = manual
    before = member_ids(collection)
    # Someone added a product after the page was loaded: the posted list lacks it.
    late = make_product("Late arrival")
    add_to_collection(collection, [late.id], by=None)
    with pytest.raises(StaleOrder) as caught:
        reorder_collection(collection, list(reversed(ids)), by=staff)
    assert caught.value.status == 409
    assert caught.value.details["current"] == before
    assert member_ids(collection) == [*before, late.id]  # nothing written
    with pytest.raises(StaleOrder):  # the same, as a page of a list that held five
        reorder_collection(collection, [ids[1], ids[0]], start=0, total=5, by=staff)
    # Someone removed one: the posted list still has it.
    remove_from_collection(collection, [ids[0]], by=None)
    with pytest.raises(StaleOrder):
        reorder_collection(collection, [*ids, late.id], by=staff)
    with pytest.raises(StaleOrder):  # a product that was never in it
        reorder_collection(collection, [ids[1], ids[2], ids[3], ids[4], 999999], by=staff)
    assert audits("collection.reorder") == []


def test_reorder_input_errors(manual, staff):
    collection, ids = manual
    with pytest.raises(ValidationError) as caught:
        reorder_collection(collection, [ids[0], ids[0], *ids[1:]], by=staff)
    assert caught.value.errors == {"product_id": ["Each product can appear only once."]}
    with pytest.raises(ValidationError):
        reorder_collection(collection, ["x"], by=staff)
    with pytest.raises(ValidationError):
        reorder_collection(collection, [], by=staff)
    with pytest.raises(ValidationError):  # a page without the list's total
        reorder_collection(collection, ids[2:], start=2, by=staff)
    with pytest.raises(ValidationError):
        reorder_collection(rule_collection(), ids, by=staff)


def test_move_one_product(manual, staff):
    collection, ids = manual
    assert move_in_collection(collection, ids[4], position="1", by=staff) == 1
    assert member_ids(collection) == [ids[4], *ids[:4]]
    assert move_in_collection(collection, ids[4], step=1, by=staff) == 2
    assert move_in_collection(collection, ids[3], step=1, by=staff) == 5  # already last: stays
    assert member_ids(collection) == [ids[0], ids[4], ids[1], ids[2], ids[3]]
    entry = audits("collection.reorder")[0]
    assert entry.before == {"product_id": ids[4], "position": 5}
    assert entry.after == {"product_id": ids[4], "position": 1}
    assert len(audits("collection.reorder")) == 2  # the move that changed nothing wrote none
    for bad in ("0", "6", "two", ""):
        with pytest.raises(ValidationError) as caught:
            move_in_collection(collection, ids[0], position=bad, by=staff)
        assert caught.value.errors == {"position": ["Enter a position from 1 to 5."]}
    with pytest.raises(StaleOrder):
        move_in_collection(collection, 999999, position=1, by=staff)


# -- pins ---------------------------------------------------------------------------------------


def test_pin_unpin_and_reorder_pins(manual, staff, make_product):
    collection, ids = manual
    assert pin_products(collection, [ids[3], str(ids[1])], by=staff) == 2
    assert pin_products(collection, [ids[3]], by=staff) == 0  # already pinned
    assert collection.pinned_ids == [ids[3], ids[1]]
    outsider = make_product("Not a member")
    with pytest.raises(ValidationError) as caught:
        pin_products(collection, [outsider.id], by=staff)
    assert caught.value.errors["pinned_ids"] == [
        "“Not a member” is not in this collection (add it first)."
    ]
    with pytest.raises(StaleOrder):  # the page showed one pin fewer
        reorder_pins(collection, [ids[1]], by=staff)
    assert reorder_pins(collection, [ids[1], ids[3]], by=staff) is True
    assert collection.pinned_ids == [ids[1], ids[3]]
    assert unpin_products(collection, [ids[1]], by=staff) == 1
    assert collection.pinned_ids == [ids[3]]
    actions = db.session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.startswith("collection."))
        .order_by(AuditEntry.id)
    )
    assert list(actions)[-3:] == ["collection.pin", "collection.reorder_pins", "collection.unpin"]
    pin_entry = audits("collection.pin")[0]
    assert (pin_entry.before, pin_entry.after) == (
        {"pinned_ids": []},
        {"pinned_ids": [ids[3], ids[1]]},
    )


def test_at_most_fifty_pins(make_product, staff):
    products = [make_product() for _ in range(MAX_PINS + 1)]
    collection = create_collection(title="Big", by=None)
    add_to_collection(collection, [p.id for p in products], by=None)
    assert pin_products(collection, [p.id for p in products[:MAX_PINS]], by=staff) == MAX_PINS
    with pytest.raises(ValidationError) as caught:
        pin_products(collection, [products[-1].id], by=staff)
    assert "at most 50" in caught.value.errors["pinned_ids"][0]
    assert len(collection.pinned_ids) == MAX_PINS


def test_rule_collection_pins_are_what_its_conditions_match_now(make_product, staff):
    collection = rule_collection("summer")
    sunhat = make_product("Sun hat", tags="summer", status="active")
    scarf = make_product("Wool scarf", tags="winter", status="active")
    with pytest.raises(ValidationError) as caught:
        pin_products(collection, [scarf.id], by=staff)
    assert "its conditions do not match it" in caught.value.errors["pinned_ids"][0]
    pin_products(collection, [sunhat.id], by=staff)
    assert [(p.product_id, p.shown) for p in pinned(collection)] == [(sunhat.id, True)]

    # The hat stops matching: the pin stays stored but is not shown, and says why.
    update_product(sunhat, tags="autumn", by=None)
    [pin] = pinned(collection)
    assert (pin.shown, pin.problem) == (False, "No longer in this collection: not shown")
    update_product(sunhat, tags="summer", status="draft", by=None)
    [pin] = pinned(collection)
    assert (pin.shown, pin.problem) == (False, "Draft: not shown until active")


def test_removing_a_product_unpins_it(manual, staff):
    collection, ids = manual
    pin_products(collection, [ids[0], ids[2]], by=staff)
    remove_from_collection(collection, [ids[0]], by=staff)
    assert collection.pinned_ids == [ids[2]]
    entry = audits("collection.remove_products")[-1]
    assert entry.before == {"product_ids": [ids[0]], "pinned_ids": [ids[0], ids[2]]}
    assert entry.after == {"pinned_ids": [ids[2]]}


def test_order_changes_queue_no_search_event(manual, staff):
    """Search documents hold a product's collections, not its place in them; the shop's pages
    show the order, so each change queues one order-only `collection.updated` (edge cache)."""
    from commerce.search.indexing import TOPICS

    collection, ids = manual

    def events() -> list[OutboxEvent]:
        return list(db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))

    count = len(events())
    set_collection_sort(collection, "title", by=staff)
    reorder_collection(collection, list(reversed(ids)), by=staff)
    move_in_collection(collection, ids[0], position=1, by=staff)
    pin_products(collection, [ids[1]], by=staff)
    reorder_pins(collection, [ids[1]], by=staff)  # the same order: no change
    unpin_products(collection, [ids[1]], by=staff)
    new = events()[count:]
    assert not [e for e in new if e.topic in TOPICS]
    assert [(e.topic, e.payload) for e in new] == [
        ("collection.updated", {"collection_id": collection.id, "order_only": True})
    ] * 5


def test_shop_order_requires_sales_for_best_selling(manual):
    collection, _ = manual
    collection.sort = "best-selling"
    with pytest.raises(ValueError):
        collection_order.shop_order(collection)


def test_a_rule_collection_stored_with_the_manual_sort_shops_newest_first(make_product):
    """Rows written outside the services (the demo loader, old imports) may carry the model's
    default "manual" on a rule-based collection: the shop and the console read it as newest."""
    from commerce.catalog.models import Collection

    row = Collection(
        title="Raw",
        handle="raw",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "raw"}],
    )
    db.session.add(row)
    db.session.commit()
    assert row.sort == "manual"
    assert collection_order.effective_sort(row) == "newest"
    older = make_product("Older raw", tags="raw", status="active")
    newer = make_product("Newer raw", tags="raw", status="active")
    shown = collection_order.shop_preview(row, sales=lambda stmt: (stmt, None))
    assert [p.id for p in shown] == [newer.id, older.id]
