"""The promotions list and builder through HTTP: filters, sort, pages and empty states; rows
added, removed and re-kinded with htmx; messages at the field with a 422 and nothing saved;
create, edit, the live summary, the item picker; publish, pause, end now, duplicate and
delete a draft, audited; permissions and CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.db import utcnow
from commerce.extensions import db
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.models import DRAFT, ENABLED, PAUSED, Promotion
from commerce.promotions.services import (
    create_promotion,
    enable_promotion,
    end_promotion,
    pause_promotion,
)
from tests.commerce.promotions import conftest as promotion_fixtures
from tests.commerce.promotions.conftest import row
from tests.conftest import count_queries, htmx_headers, sign_in

TEN_OFF = [row("amount_off_order", amount=1000)]

# The promotion tests' small shop and promo(...) factory, as fixtures here too.
shop = promotion_fixtures.shop
promo = promotion_fixtures.promo


def text(response) -> str:
    return response.get_data(as_text=True)


def listed(response) -> list[str]:
    """Promotion names in the list, top to bottom."""
    return re.findall(r'<td><a href="/console/promotions/\d+">([^<]+)</a>', text(response))


def message_at(response, key: str) -> str:
    """The messages shown under the input named `key`."""
    found = re.search(rf'id="{re.escape(key)}-msg" role="alert">(.*?)</div>', text(response), re.S)
    assert found, f"no message area for {key}"
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip()


def count_promotions() -> int:
    return db.session.scalar(select(func.count(Promotion.id)))


def make(name: str, *, state: str = ENABLED, code: str | None = None, **fields):
    fields.setdefault("actions", TEN_OFF)
    promotion = create_promotion(by=None, name=name, **fields)
    if code:
        add_coupon_code(promotion, code=code, by=None)
    if state in (ENABLED, PAUSED):
        enable_promotion(promotion, by=None)
    if state == PAUSED:
        pause_promotion(promotion, by=None)
    return promotion


@pytest.fixture
def statuses(app):
    now = utcnow()
    return {
        "active": make("Always on"),
        "draft": make("Draft deal", state=DRAFT),
        "paused": make("Paused deal", state=PAUSED),
        "scheduled": make("Next month", starts_at=now + timedelta(days=30), timezone="UTC"),
        "expired": end_promotion(make("Last year"), by=None, now=now - timedelta(days=1)),
        "coded": make("Coded", code="SPRING24"),
    }


# -- the list -----------------------------------------------------------------------------------


def test_empty_list_invites_to_build_one(client, login):
    login("merchandiser")
    response = client.get("/console/promotions")
    assert response.status_code == 200
    assert "No promotions yet" in text(response)
    assert 'href="/console/promotions/new"' in text(response)


def test_list_filters_by_derived_status_code_and_text(client, login, statuses):
    login("merchandiser")
    every = client.get("/console/promotions?sort=name&dir=asc")
    assert listed(every) == [
        "Always on",
        "Coded",
        "Draft deal",
        "Last year",
        "Next month",
        "Paused deal",
    ]
    assert "data-keynav" in text(every) and "data-search" in text(every)
    for status, names in {
        "active": ["Always on", "Coded"],
        "draft": ["Draft deal"],
        "paused": ["Paused deal"],
        "scheduled": ["Next month"],
        "expired": ["Last year"],
    }.items():
        response = client.get(f"/console/promotions?status={status}&sort=name&dir=asc")
        assert listed(response) == names, status
        assert f'badge-{status}"' in text(response)
    both = client.get("/console/promotions?status=draft&status=paused&sort=name&dir=asc")
    assert listed(both) == ["Draft deal", "Paused deal"]
    assert listed(client.get("/console/promotions?code=1")) == ["Coded"]
    assert "Coded" not in listed(client.get("/console/promotions?code=0"))
    assert listed(client.get("/console/promotions?q=spring")) == ["Coded"]  # by code prefix
    assert listed(client.get("/console/promotions?q=NEXT")) == ["Next month"]  # by name
    nothing = client.get("/console/promotions?q=nothing-like-it")
    assert "No promotions match" in text(nothing)


def test_list_sorts_and_pages_with_the_state_in_the_url(client, login, statuses, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 4)
    login("merchandiser")
    first = client.get("/console/promotions?sort=name&dir=desc")
    assert listed(first) == ["Paused deal", "Next month", "Last year", "Draft deal"]
    after = re.search(r'rel="next" href="([^"]+)"', text(first)).group(1).replace("&amp;", "&")
    assert "sort=name" in after and "dir=desc" in after
    second = client.get(after)
    assert listed(second) == ["Coded", "Always on"]
    before = re.search(r'rel="prev" href="([^"]+)"', text(second)).group(1).replace("&amp;", "&")
    assert listed(client.get(before)) == listed(first)
    by_start = client.get("/console/promotions?sort=starts&dir=desc")
    assert listed(by_start)[0] == "Next month"


def test_list_fragment_and_bad_filters(client, login, statuses):
    login("merchandiser")
    fragment = client.get("/console/promotions?status=active", headers=htmx_headers())
    assert text(fragment).startswith('\n<div id="list">') or text(fragment).lstrip().startswith(
        '<div id="list">'
    )
    assert "<html" not in text(fragment)
    assert 'id="filter-sort" hx-swap-oob="true"' in text(fragment)
    bad = client.get("/console/promotions?status=bogus&code=maybe")
    assert bad.status_code == 422
    assert "Choose from the list." in text(bad) and "Choose yes, no or any." in text(bad)


def test_list_shows_usage_and_revenue_attributed(client, login, place):
    promotion = make("Five off", actions=[row("amount_off_order", amount=500)])
    order = place(quantity=2)
    login("merchandiser")
    response = client.get("/console/promotions")
    body = text(response)
    assert "Revenue attributed: the sum of the totals of the orders" in body
    cells = re.search(
        rf'href="/console/promotions/{promotion.id}">Five off</a>.*?</tr>', body, re.S
    )
    figures = re.findall(r'<td class="num">([^<]*)</td>', cells.group(0))
    total = f"${order.total / 100:,.2f}"
    assert figures[:5] == [
        "100",
        "1",
        "1",
        "$5.00",
        total,
    ]  # priority, uses, orders, discount, revenue


def test_list_costs_the_same_queries_whatever_the_page_size(client, login, shop):
    login("merchandiser")
    items = {"categories": [shop.tshirts.id], "products": [shop.products["mug"].id]}
    for n in range(3):
        make(f"Deal {n}", actions=[row("percent_off_items", percent=5, items=items)])
    with count_queries() as few:
        client.get("/console/promotions")
    for n in range(3, 9):
        make(
            f"Deal {n}",
            code=f"D{n}CODE",
            actions=[row("percent_off_items", percent=5, items=items)],
        )
    with count_queries() as many:
        response = client.get("/console/promotions")
    assert len(listed(response)) == 9
    assert len(many) == len(few)


# -- the builder: create ------------------------------------------------------------------------


def builder_data(shop, **extra):
    data = {
        "name": "Tee deal",
        "description": "June push",
        "starts_at": "2027-06-01T00:00",
        "ends_at": "2027-07-01T00:00",
        "timezone": "Europe/Paris",
        "priority": "50",
        "stacking": "exclusive",
        "match": "all",
        "usage_limit": "1000",
        "conditions-0-kind": "quantity_at_least",
        "conditions-0-quantity": "2",
        "conditions-0-items-categories": str(shop.tshirts.id),
        "actions-0-kind": "percent_off_items",
        "actions-0-percent": "20",
        "actions-0-items-categories": str(shop.tshirts.id),
        "actions-0-items-exclude_products": str(shop.products["tee2"].id),
    }
    data.update(extra)
    return data


def test_new_page_starts_with_one_action_in_the_shop_zone(client, login, app, monkeypatch):
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "Europe/Paris")
    login("merchandiser")
    response = client.get("/console/promotions/new")
    body = text(response)
    assert response.status_code == 200
    assert 'name="actions-0-kind"' in body and 'name="conditions-0-kind"' not in body
    assert 'id="timezone" name="timezone" type="text" value="Europe/Paris"' in body
    assert 'hx-post="/console/promotions/summary"' in body


def test_create_with_conditions_and_actions(client, login, shop):
    member = login("merchandiser")
    response = client.post("/console/promotions/new", data=builder_data(shop))
    assert response.status_code == 303, text(response)[:2000]
    promotion = db.session.scalars(select(Promotion)).one()
    assert response.headers["Location"] == f"/console/promotions/{promotion.id}"
    assert promotion.state == DRAFT
    assert (promotion.name, promotion.priority, promotion.stacking) == ("Tee deal", 50, "exclusive")
    assert promotion.usage_limit == 1000
    assert promotion.starts_at.isoformat() == "2027-05-31T22:00:00"  # Paris midnight in UTC
    assert [(c.kind, c.params) for c in promotion.conditions] == [
        ("quantity_at_least", {"quantity": 2, "items": {"categories": [shop.tshirts.id]}})
    ]
    assert [(a.kind, a.params) for a in promotion.actions] == [
        (
            "percent_off_items",
            {
                "percent": "20",
                "items": {
                    "categories": [shop.tshirts.id],
                    "exclude_products": [shop.products["tee2"].id],
                },
            },
        )
    ]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "promotion.create")
    ).one()
    assert entry.actor_id == member.id

    page = client.get(response.headers["Location"])
    body = text(page)
    assert (
        "20% off T-shirts (except Print tee) when you buy 2 or more, 1 June to 30 June 2027" in body
    )
    assert 'value="2027-06-01T00:00"' in body  # shown back in the promotion's zone
    assert f'name="conditions-0-items-categories" value="{shop.tshirts.id}"' in body
    assert "Print tee" in body  # the chip's label


def test_create_every_kind_of_row_round_trips(client, login, shop):
    login("merchandiser")
    data = {
        "name": "Everything",
        "match": "any",
        "conditions-0-kind": "subtotal_at_least",
        "conditions-0-amount": "50",
        "conditions-1-kind": "time_window",
        "conditions-1-weekdays": ["5", "6"],
        "conditions-1-start": "10:00",
        "conditions-1-end": "14:00",
        "conditions-2-kind": "shipping_country",
        "conditions-2-countries": "gb fr",
        "conditions-3-kind": "customer_tag",
        "conditions-3-tags": "VIP, wholesale",
        "conditions-4-kind": "first_order",
        "actions-0-kind": "tiered",
        "actions-0-tiers-0-threshold": "50",
        "actions-0-tiers-0-value": "5",
        "actions-0-tiers-0-unit": "amount",
        "actions-0-tiers-1-threshold": "100",
        "actions-0-tiers-1-value": "15",
        "actions-0-tiers-1-unit": "percent",
        "actions-1-kind": "free_shipping",
        "actions-1-methods": ["STD"],
        "actions-2-kind": "free_gift",
        "actions-2-variant_id": str(shop.card),
        "actions-2-quantity": "1",
        "actions-3-kind": "fixed_price_items",
        "actions-3-price": "0",
        "actions-3-items-tags": "sale",
    }
    response = client.post("/console/promotions/new", data=data)
    assert response.status_code == 303, text(response)[:3000]
    promotion = db.session.scalars(select(Promotion)).one()
    assert promotion.match == "any"
    assert [c.params for c in promotion.conditions] == [
        {"amount": 5000},
        {"weekdays": [5, 6], "start": "10:00", "end": "14:00"},
        {"countries": ["FR", "GB"]},
        {"tags": ["vip", "wholesale"]},
        {},
    ]
    assert promotion.actions[0].params == {
        "tiers": [{"threshold": 5000, "amount": 500}, {"threshold": 10000, "percent": "15"}]
    }
    assert promotion.actions[1].params == {"methods": ["STD"]}
    assert promotion.actions[2].params == {"variant_id": shop.card, "quantity": 1}
    assert promotion.actions[3].params == {"price": 0, "items": {"tags": ["sale"]}}

    # the edit page shows them back as typed, and saving them unchanged keeps them
    page = text(client.get(f"/console/promotions/{promotion.id}"))
    assert 'name="conditions-0-amount" type="text" value="50.00"' in page
    assert 'name="actions-0-tiers-1-value" value="15"' in page
    assert 'name="conditions-2-countries" type="text" value="FR, GB"' in page
    again = dict(data, **{"conditions-0-amount": "50.00"})
    assert client.post(f"/console/promotions/{promotion.id}/save", data=again).status_code == 303
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "promotion.update")
        )
        == 0
    )  # nothing changed, nothing audited


# -- validation at the field --------------------------------------------------------------------


def test_invalid_input_answers_422_with_messages_at_the_fields(client, login, shop):
    login("merchandiser")
    data = builder_data(
        shop,
        name=" ",
        ends_at="2027-05-01T00:00",
        **{
            "conditions-0-kind": "subtotal_at_least",
            "conditions-0-amount": "abc",
            "actions-0-percent": "120",
            "actions-1-kind": "buy_x_get_y",
            "actions-1-buy": "",
            "actions-1-get": "1",
            "actions-2-kind": "percent_off_items",
            "actions-2-percent": "10",
            "actions-2-items-products": "999999",
        },
    )
    response = client.post("/console/promotions/new", data=data)
    assert response.status_code == 422
    assert count_promotions() == 0
    assert message_at(response, "name") == "Give the promotion a name."
    assert message_at(response, "ends_at") == "The end must be after the start."
    assert message_at(response, "conditions-0-amount") == "“abc” is not an amount."
    assert message_at(response, "actions-0-percent") == "A percentage cannot be over 100."
    assert message_at(response, "actions-1-buy") == "Enter a whole number."
    assert message_at(response, "actions-2-items") == "Unknown product (id 999999)."
    body = text(response)
    assert 'id="actions-0-percent" name="actions-0-percent" type="text" value="120"' in body
    assert 'aria-invalid="true" aria-describedby="actions-0-percent-msg"' in body
    assert "Not saved: please correct the highlighted fields." in body


def test_rows_are_renumbered_so_messages_match_the_inputs(client, login):
    login("merchandiser")
    data = {
        "name": "Gaps",
        "actions-3-kind": "percent_off_order",
        "actions-3-percent": "10",
        "actions-7-kind": "amount_off_order",
        "actions-7-amount": "-1",
    }
    response = client.post("/console/promotions/new", data=data)
    assert response.status_code == 422
    assert message_at(response, "actions-1-amount") == "Enter an amount above zero."
    assert 'name="actions-0-percent" type="text" value="10"' in text(response)
    assert 'name="actions-3-kind"' not in text(response)


# -- rows with htmx -----------------------------------------------------------------------------


def test_add_remove_and_rekind_rows_with_htmx(client, login, shop):
    login("merchandiser")
    base = {
        "name": "Rows",
        "conditions-0-kind": "subtotal_at_least",
        "conditions-0-amount": "50",
        "new-conditions-kind": "cart_contains",
    }
    added = client.post(
        "/console/promotions/rows/conditions?op=add", data=base, headers=htmx_headers()
    )
    body = text(added)
    assert added.status_code == 200
    assert body.lstrip().startswith('<div id="conditions-rows"')
    assert 'name="conditions-0-amount" type="text" value="50"' in body
    assert re.search(
        r'name="conditions-1-kind".*?<option value="cart_contains" selected', body, re.S
    )
    assert 'id="conditions-1-items-chips"' in body  # the new row's picker
    assert added.headers["HX-Trigger-After-Settle"] == "promotion-changed"

    two = dict(base, **{"conditions-1-kind": "cart_contains", "conditions-1-items-products": "5"})
    removed = client.post(
        "/console/promotions/rows/conditions?op=remove&index=0", data=two, headers=htmx_headers()
    )
    body = text(removed)
    assert 'name="conditions-0-kind"' in body and 'name="conditions-1-kind"' not in body
    assert re.search(r'<option value="cart_contains" selected', body)

    rekinded = client.post(
        "/console/promotions/rows/conditions?op=kind&index=0",
        data={"conditions-0-kind": "time_window"},
        headers=htmx_headers(),
    )
    assert 'name="conditions-0-weekdays" value="5"' in text(rekinded)

    tiers = client.post(
        "/console/promotions/rows/actions?op=add_tier&index=0",
        data={
            "actions-0-kind": "tiered",
            "actions-0-tiers-0-threshold": "50",
            "actions-0-tiers-0-value": "5",
        },
        headers=htmx_headers(),
    )
    assert 'name="actions-0-tiers-1-threshold"' in text(tiers)

    # without htmx the same post answers the whole builder (works as a plain form post)
    page = client.post("/console/promotions/rows/conditions?op=add", data=base)
    assert page.status_code == 200 and "<html" in text(page)
    assert 'name="conditions-1-kind"' in text(page)
    assert count_promotions() == 0


def test_live_summary_follows_the_form(client, login, shop):
    login("merchandiser")
    response = client.post(
        "/console/promotions/summary", data=builder_data(shop), headers=htmx_headers()
    )
    assert response.status_code == 200
    assert text(response).strip() == (
        '<p class="summary-text" data-summary>20% off T-shirts (except Print tee) when you buy 2 '
        "or more, 1 June to 30 June 2027, max 1,000 uses, not combined with other promotions</p>"
    )
    half = client.post(
        "/console/promotions/summary",
        data={"actions-0-kind": "buy_x_get_y", "actions-0-buy": "2", "actions-0-get": "1"},
        headers=htmx_headers(),
    )
    assert "Buy 2, get 1 free" in text(half)


def test_picker_searches_and_chips_carry_the_inputs(client, login, shop):
    login("merchandiser")
    found = client.get("/console/promotions/pick?q=tee&target=actions-0-items&shape=items")
    body = text(found)
    assert "Plain tee" in body and "Print tee" in body
    assert "kind=product" in body and "mode=exclude" in body
    categories = client.get("/console/promotions/pick?q=shirt&target=actions-0-items&shape=items")
    assert "Clothing / T-shirts" in text(categories)
    chip = client.get(
        f"/console/promotions/pick/chip?target=actions-0-items&shape=items&kind=category&value={shop.tshirts.id}"
    )
    assert f'name="actions-0-items-categories" value="{shop.tshirts.id}"' in text(chip)
    assert chip.headers["HX-Trigger-After-Settle"] == "promotion-changed"
    excluded = client.get(
        f"/console/promotions/pick/chip?target=actions-0-items&shape=items&kind=product"
        f"&value={shop.products['tee2'].id}&mode=exclude"
    )
    assert 'name="actions-0-items-exclude_products"' in text(excluded)
    gift = client.get(
        f"/console/promotions/pick/chip?target=actions-0-variant_id&shape=variant&kind=variant&value={shop.mug}"
    )
    assert f'name="actions-0-variant_id" value="{shop.mug}"' in text(gift)
    variants = client.get("/console/promotions/pick?q=mug&target=lines&shape=line")
    assert "kind=variant" in text(variants) and "kind=product" not in text(variants)
    missing = client.get(
        "/console/promotions/pick/chip?target=x&shape=items&kind=product&value=999999"
    )
    assert missing.status_code == 404


# -- edit and state changes ---------------------------------------------------------------------


def test_edit_saves_and_audits(client, login, promo, shop):
    promotion = promo(TEN_OFF, name="Ten off", enabled=False)
    login("merchandiser")
    data = {
        "name": "Twelve off",
        "timezone": "Europe/Paris",
        "actions-0-kind": "amount_off_order",
        "actions-0-amount": "12",
    }
    response = client.post(f"/console/promotions/{promotion.id}/save", data=data)
    assert response.status_code == 303
    db.session.refresh(promotion)
    assert promotion.name == "Twelve off" and promotion.actions[0].params == {"amount": 1200}
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "promotion.update")
        )
        == 1
    )
    bad = client.post(f"/console/promotions/{promotion.id}/save", data=dict(data, name=""))
    assert bad.status_code == 422
    db.session.refresh(promotion)
    assert promotion.name == "Twelve off"


def test_publish_pause_resume_end_duplicate_delete(client, login, promo):
    draft = promo(TEN_OFF, name="Lifecycle", enabled=False)
    login("merchandiser")
    url = f"/console/promotions/{draft.id}"
    page = text(client.get(url))
    assert "Publish" in page and "Delete draft" in page and "End now" not in page
    assert 'hx-confirm="Delete the draft “Lifecycle”? This cannot be undone."' in page

    assert client.post(f"{url}/publish").status_code == 303
    db.session.refresh(draft)
    assert draft.state == ENABLED
    page = text(client.get(url))
    assert "Pause" in page and "End now" in page and "Delete draft" not in page
    assert 'hx-confirm="End “Lifecycle” now?' in page

    assert client.post(f"{url}/pause").status_code == 303
    db.session.refresh(draft)
    assert draft.state == PAUSED
    assert "Resume" in text(client.get(url))
    assert client.post(f"{url}/publish").status_code == 303

    ended = client.post(f"{url}/end", headers=htmx_headers())
    assert ended.status_code == 204 and ended.headers["HX-Location"] == url
    db.session.refresh(draft)
    assert draft.status_at(utcnow()) == "expired"

    refused = client.post(f"{url}/delete")
    assert refused.status_code == 409
    assert "Only a draft can be deleted" in text(refused)

    copied = client.post(f"{url}/duplicate")
    copy = db.session.scalars(select(Promotion).where(Promotion.id != draft.id)).one()
    assert copied.headers["Location"] == f"/console/promotions/{copy.id}"
    assert copy.name == "Copy of Lifecycle" and copy.state == DRAFT
    copy_id = copy.id
    assert client.post(f"/console/promotions/{copy_id}/delete").status_code == 303
    db.session.expunge_all()
    assert db.session.get(Promotion, copy_id) is None

    actions = set(
        db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("promotion.%")))
    )
    assert {
        "promotion.enable",
        "promotion.pause",
        "promotion.resume",
        "promotion.end",
        "promotion.delete",
    } <= actions


def test_publish_refused_says_why(client, login, promo):
    promotion = promo([], name="Empty", enabled=False)
    login("merchandiser")
    response = client.post(f"/console/promotions/{promotion.id}/publish")
    assert response.status_code == 422
    assert "Add at least one action first." in text(response)
    db.session.refresh(promotion)
    assert promotion.state == DRAFT


# -- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "warehouse"])
def test_other_roles_are_refused(client, login, role, promo):
    promotion = promo(TEN_OFF, enabled=False)
    login(role)
    for url in (
        "/console/promotions",
        "/console/promotions/new",
        f"/console/promotions/{promotion.id}",
        "/console/promotions/simulator",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/console/promotions/{promotion.id}/pause").status_code == 403
    assert client.post("/console/promotions/new", data={"name": "x"}).status_code == 403
    assert "Promotions" not in text(client.get("/console/"))


def test_anonymous_goes_to_sign_in(client):
    response = client.get("/console/promotions")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login")


def test_nav_shows_promotions_to_merchandisers(client, login):
    login("merchandiser")
    assert 'href="/console/promotions"' in text(client.get("/console/"))


def test_posts_need_the_csrf_token(client, make_staff, app, monkeypatch, promo):
    promotion = promo(TEN_OFF, enabled=False)
    member = make_staff("merchandiser")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text(page)).group(1)
    assert sign_in(client, member, csrf_token=token).status_code == 303
    builder = text(client.get(f"/console/promotions/{promotion.id}"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', builder).group(1)
    assert 'hx-headers=\'{"X-CSRFToken"' in builder
    data = {"name": "Renamed", "actions-0-kind": "amount_off_order", "actions-0-amount": "10"}
    assert client.post(f"/console/promotions/{promotion.id}/save", data=data).status_code == 400
    assert client.post(f"/console/promotions/{promotion.id}/pause").status_code == 400
    assert client.post("/console/promotions/summary", data=data).status_code == 400
    ok = client.post(f"/console/promotions/{promotion.id}/save", data=dict(data, csrf_token=token))
    assert ok.status_code == 303
    via_header = client.post(
        "/console/promotions/summary", data=data, headers=htmx_headers(**{"X-CSRFToken": token})
    )
    assert via_header.status_code == 200
