"""The "Products & order" section of a collection's console page through HTTP: the shop order,
the hand-made order (drag and drop posts, arrow buttons, move to a position, pages), pins,
the shop preview; permissions, CSRF, stale lists and bad input."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.catalog.collection_order import member_ids, pin_products
from commerce.catalog.models import Collection, Product
from commerce.catalog.services import update_product
from commerce.catalog.taxonomy import add_to_collection, create_collection
from commerce.extensions import db
from tests.conftest import htmx_headers


def text(response) -> str:
    return response.get_data(as_text=True)


def triggers(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger") or "{}")


def member_rows(html: str) -> list[int]:
    """Product ids of the member rows, in order (from the hidden inputs the form posts)."""
    return [int(i) for i in re.findall(r'name="product_id" value="(\d+)"', html)]


@pytest.fixture
def shelf(make_product):
    """A manual collection of four active products, in the order they were added."""
    products = [make_product(f"Shelf item {i}", status="active", price=1000 + i) for i in range(4)]
    collection = create_collection(title="Shelf", by=None)
    add_to_collection(collection, [p.id for p in products], by=None)
    return collection, [p.id for p in products]


def url(collection: Collection, tail: str = "") -> str:
    return f"/console/collections/{collection.id}{tail}"


# -- the page -----------------------------------------------------------------------------------


def test_manual_collection_page_shows_order_pins_and_preview(client, login, shelf):
    login("merchandiser")
    collection, ids = shelf
    pin_products(collection, [ids[2]], by=None)
    page = text(client.get(url(collection)))
    assert "Products &amp; order" in page
    assert 'name="sort"' in page and '<option value="manual" selected' in page
    assert "data-sortable" in page and 'hx-trigger="end, submit"' in page
    section = page[page.index('id="members"') :]
    assert member_rows(section) == ids
    assert 'data-sortable-move="up"' in section and 'aria-keyshortcuts="Alt+ArrowUp"' in section
    preview = page[page.index('id="shop-preview"') : page.index('id="members"')]
    assert preview.index("Shelf item 2") < preview.index("Shelf item 0")  # pinned first
    assert "js/vendor/Sortable.min.js" in page and "js/console-sortable.js" in page


def test_the_collection_list_says_each_shop_order(client, login, shelf):
    login("merchandiser")
    collection, ids = shelf
    pin_products(collection, [ids[1], ids[3]], by=None)
    page = text(client.get("/console/collections"))
    assert "Shop order" in page and "Manual (drag and drop) · 2 pinned" in page


def test_rule_collection_page_has_rule_sorts_and_no_hand_made_order(client, login, make_product):
    login("merchandiser")
    make_product("Sunny", tags="summer", status="active")
    collection = create_collection(
        title="Summer",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "summer"}],
        by=None,
    )
    page = text(client.get(url(collection)))
    assert '<option value="newest" selected' in page
    assert 'value="manual"' not in page.split('id="merch-sort"')[1].split("</form>")[0]
    assert 'id="members"' not in page and "Sunny" in page
    assert client.get(url(collection, "/members")).status_code == 303

    # A pin that the rules stop matching stays listed, flagged, and can be unpinned.
    sunny = db.session.scalar(select(Product).where(Product.title == "Sunny"))
    pin_products(collection, [sunny.id], by=None)
    update_product(sunny, tags="autumn", by=None)
    page = text(client.get(url(collection)))
    pins = page[page.index('id="pins"') : page.index('id="shop-preview"')]
    assert "Sunny" in pins and "No longer in this collection: not shown" in pins
    assert "Unpin Sunny" in pins
    assert "No active products in this collection" in page


def test_read_only_roles_see_the_order_but_cannot_change_it(client, login, shelf):
    collection, ids = shelf
    login("support")
    page = text(client.get(url(collection)))
    assert "Products &amp; order" in page and "Shelf item 3" in page
    assert "data-sortable" not in page.replace("data-sortable-handle", "")
    assert 'name="sort" aria-describedby="merch-sort-msg merch-sort-hint" disabled' in page
    assert client.get(url(collection, "/preview"), headers=htmx_headers()).status_code == 200
    for tail, data in (
        ("/sort", {"sort": "title"}),
        ("/order", {"product_id": list(reversed(ids))}),
        ("/pins", {"op": "pin", "product_ids": [ids[0]]}),
    ):
        assert client.post(url(collection, tail), data=data).status_code == 403
    assert client.get(url(collection, "/pin-picker?q=shelf")).status_code == 403
    assert member_ids(collection) == ids and collection.pinned_ids == []


def test_signed_out_visitors_go_to_sign_in(client, shelf):
    collection, ids = shelf
    response = client.post(url(collection, "/order"), data={"product_id": ids})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_posts_need_the_csrf_token(app, client, login, shelf, monkeypatch):
    login("merchandiser")
    collection, ids = shelf
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    page = text(client.get(url(collection)))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    new = list(reversed(ids))
    data = {"product_id": new, "start": "0", "total": "4"}
    refused = client.post(url(collection, "/order"), data=data, headers=htmx_headers())
    assert refused.status_code == 400 and member_ids(collection) == ids
    ok = client.post(
        url(collection, "/order"), data=data, headers=htmx_headers(**{"X-CSRFToken": token})
    )
    assert ok.status_code == 200 and member_ids(collection) == new
    assert 'name="csrf_token"' in text(ok)  # the swapped-in form can post again


# -- the hand-made order ------------------------------------------------------------------------


def test_drag_and_drop_posts_the_new_order(client, login, shelf):
    member = login("merchandiser")
    collection, ids = shelf
    new = [ids[3], ids[0], ids[1], ids[2]]
    response = client.post(
        url(collection, "/order"),
        data={"product_id": new, "start": "0", "total": "4", "page": "1"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    assert member_rows(text(response)) == new
    assert text(response).lstrip().startswith('<section id="members"')
    assert triggers(response)["toast"] == {"message": "Saved the order.", "level": "success"}
    assert triggers(response)["collection-changed"] is True
    assert member_ids(collection) == new
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "collection.reorder"))
    assert entry.actor_id == member.id and entry.after["product_ids"] == new
    # The same order again: nothing to save, no toast, no refresh.
    again = client.post(
        url(collection, "/order"),
        data={"product_id": new, "start": "0", "total": "4"},
        headers=htmx_headers(),
    )
    assert again.status_code == 200 and "toast" not in triggers(again)


def test_a_stale_page_gets_409_and_the_fresh_list(client, login, shelf, make_product):
    login("merchandiser")
    collection, ids = shelf
    late = make_product("Late shelf item", status="active")
    add_to_collection(collection, [late.id], by=None)  # another tab added it meanwhile
    response = client.post(
        url(collection, "/order"),
        data={"product_id": list(reversed(ids)), "start": "0", "total": "4"},
        headers=htmx_headers(),
    )
    assert response.status_code == 409
    body = text(response)
    assert "This list changed since you opened it" in body and 'role="alert"' in body
    assert member_rows(body) == [*ids, late.id]  # the fresh list, ready to retry
    assert triggers(response)["toast"]["level"] == "error"
    assert member_ids(collection) == [*ids, late.id]

    # The same without htmx: the whole page, with the message, and the same status.
    plain = client.post(
        url(collection, "/order"), data={"product_id": list(reversed(ids)), "total": "4"}
    )
    assert plain.status_code == 409 and "This list changed since you opened it" in text(plain)
    assert "<html" in text(plain)


def test_arrow_buttons_and_move_to_a_position_without_scripts(client, login, shelf):
    login("merchandiser")
    collection, ids = shelf
    form = {"product_id": ids, "start": "0", "total": "4", "page": "1"}
    response = client.post(url(collection, "/order"), data={**form, "shift": f"{ids[2]}:up"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/console/collections/{collection.id}#members")
    assert member_ids(collection) == [ids[0], ids[2], ids[1], ids[3]]

    current = member_ids(collection)
    response = client.post(
        url(collection, "/order"),
        data={**form, "product_id": current, "move": str(ids[0]), f"to-{ids[0]}": "4"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    assert triggers(response)["toast"]["message"] == "Moved “Shelf item 0” to position 4."
    assert member_ids(collection) == [ids[2], ids[1], ids[3], ids[0]]

    # Enter in a position box without scripts posts op=position and the typed box.
    current = member_ids(collection)
    client.post(
        url(collection, "/order"),
        data={**form, "product_id": current, "op": "position", f"to-{ids[3]}": "1"},
    )
    assert member_ids(collection)[0] == ids[3]


def test_bad_position_is_a_422_with_the_message(client, login, shelf):
    login("merchandiser")
    collection, ids = shelf
    data = {"product_id": ids, "total": "4", "move": str(ids[1]), f"to-{ids[1]}": "9"}
    response = client.post(url(collection, "/order"), data=data, headers=htmx_headers())
    assert response.status_code == 422
    assert "Enter a position from 1 to 4." in text(response)
    assert triggers(response)["toast"] == {
        "message": "Enter a position from 1 to 4.",
        "level": "error",
    }
    plain = client.post(url(collection, "/order"), data=data)
    assert plain.status_code == 422 and "Enter a position from 1 to 4." in text(plain)
    assert member_ids(collection) == ids
    nothing = client.post(url(collection, "/order"), data={}, headers=htmx_headers())
    assert nothing.status_code == 422


def test_large_collections_are_paged(client, login, make_product):
    login("merchandiser")
    products = [make_product(f"Bulk {i:03d}") for i in range(105)]
    ids = [p.id for p in products]
    collection = create_collection(title="Bulk", by=None)
    add_to_collection(collection, ids, by=None)

    first = text(client.get(url(collection)))
    assert len(member_rows(first[first.index('id="members"') :])) == 100
    assert "Page 1 of 2" in first and "products 1\u2013100" in first

    second = client.get(url(collection, "/members?mpage=2"), headers=htmx_headers())
    body = text(second)
    assert member_rows(body) == ids[100:]
    assert 'name="start" value="100"' in body and 'name="total" value="105"' in body

    # Reorder within page 2, then send one product from page 2 to the top.
    new = [ids[104], *ids[100:104]]
    response = client.post(
        url(collection, "/order"),
        data={"product_id": new, "start": "100", "total": "105", "page": "2"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200 and member_rows(text(response)) == new
    assert member_ids(collection)[100:] == new
    response = client.post(
        url(collection, "/order"),
        data={"product_id": new, "page": "2", "move": str(ids[103]), f"to-{ids[103]}": "1"},
        headers=htmx_headers(),
    )
    assert "It is now on page 1." in triggers(response)["toast"]["message"]
    assert member_ids(collection)[0] == ids[103]


# -- shop order (sort) ----------------------------------------------------------------------------


def test_sort_is_chosen_and_validated(client, login, shelf):
    login("merchandiser")
    collection, _ = shelf
    response = client.post(
        url(collection, "/sort"), data={"sort": "best-selling"}, headers=htmx_headers()
    )
    assert response.status_code == 200
    assert '<option value="best-selling" selected' in text(response)
    assert triggers(response)["collection-changed"] is True
    assert "best selling" in triggers(response)["toast"]["message"]
    assert collection.sort == "best-selling"
    # The members list says the hand-made order is not what the shop uses now.
    assert "applies when the shop order is Manual" in text(client.get(url(collection)))

    bad = client.post(url(collection, "/sort"), data={"sort": "random"}, headers=htmx_headers())
    assert bad.status_code == 422
    assert "Choose how the shop sorts this collection." in text(bad)
    assert 'aria-invalid="true"' in text(bad)
    assert collection.sort == "best-selling"

    plain = client.post(url(collection, "/sort"), data={"sort": "title"})
    assert plain.status_code == 303 and collection.sort == "title"


def test_rule_collections_cannot_sort_by_hand(client, login, make_product):
    login("merchandiser")
    collection = create_collection(
        title="Rule",
        kind="rule",
        rules=[{"field": "vendor", "op": "equals", "value": "Acme"}],
        by=None,
    )
    response = client.post(url(collection, "/sort"), data={"sort": "manual"})
    assert response.status_code == 422 and "no hand-made order" in text(response)
    assert collection.sort == "newest"


# -- pins ---------------------------------------------------------------------------------------


def test_pin_from_the_picker_then_reorder_and_unpin(client, login, shelf, make_product):
    login("merchandiser")
    collection, ids = shelf
    make_product("Shelf outsider", status="active")
    picker = text(client.get(url(collection, "/pin-picker?q=shelf"), headers=htmx_headers()))
    assert "Shelf item 1" in picker and "Shelf outsider" not in picker  # members only
    assert "data-pick" in picker

    for pid in (ids[1], ids[3]):
        response = client.post(
            url(collection, "/pins"),
            data={"op": "pin", "product_ids": [pid]},
            headers=htmx_headers(),
        )
        assert response.status_code == 200
    assert set(triggers(response)) >= {"toast", "collection-changed", "pins-changed"}
    assert member_rows(text(response)) == [ids[1], ids[3]]
    assert collection.pinned_ids == [ids[1], ids[3]]
    picker = text(client.get(url(collection, "/pin-picker?q=item 1"), headers=htmx_headers()))
    assert "Pinned" in picker and "data-pick" not in picker

    response = client.post(
        url(collection, "/pins"),
        data={"op": "order", "product_id": [ids[3], ids[1]]},
        headers=htmx_headers(),
    )
    assert response.status_code == 200 and collection.pinned_ids == [ids[3], ids[1]]
    # Without scripts the arrows post `shift`.
    client.post(
        url(collection, "/pins"),
        data={"op": "order", "product_id": [ids[3], ids[1]], "shift": f"{ids[1]}:up"},
    )
    assert collection.pinned_ids == [ids[1], ids[3]]
    stale = client.post(
        url(collection, "/pins"),
        data={"op": "order", "product_id": [ids[1]]},
        headers=htmx_headers(),
    )
    assert stale.status_code == 409 and "This list changed" in text(stale)

    response = client.post(
        url(collection, "/pins"),
        data={"op": "unpin", "product_ids": [ids[1]]},
        headers=htmx_headers(),
    )
    assert response.status_code == 200 and collection.pinned_ids == [ids[3]]
    actions = list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.startswith("collection."))
            .order_by(AuditEntry.id)
        )
    )
    assert actions[-5:] == [
        "collection.pin",
        "collection.pin",
        "collection.reorder_pins",
        "collection.reorder_pins",
        "collection.unpin",
    ]


def test_pinning_a_product_outside_the_collection_is_refused(client, login, shelf, make_product):
    login("merchandiser")
    collection, _ = shelf
    outsider = make_product("Outsider", status="active")
    response = client.post(
        url(collection, "/pins"),
        data={"op": "pin", "product_ids": [outsider.id]},
        headers=htmx_headers(),
    )
    assert response.status_code == 422
    assert "“Outsider” is not in this collection (add it first)." in text(response)
    assert collection.pinned_ids == []
    empty = client.post(url(collection, "/pins"), data={"op": "pin"}, headers=htmx_headers())
    assert empty.status_code == 422 and "Choose a product to pin." in text(empty)
    unknown = client.post(url(collection, "/pins"), data={"op": "explode"})
    assert unknown.status_code == 422


def test_preview_follows_sort_and_pins(client, login, shelf):
    login("merchandiser")
    collection, ids = shelf
    client.post(url(collection, "/sort"), data={"sort": "price-desc"})
    client.post(url(collection, "/pins"), data={"op": "pin", "product_ids": [ids[0]]})
    preview = text(client.get(url(collection, "/preview"), headers=htmx_headers()))
    order = [int(n) for n in re.findall(r"Shelf item (\d)", preview)]
    assert order == [0, 3, 2, 1]
    assert 'hx-trigger="collection-changed from:body"' in preview
