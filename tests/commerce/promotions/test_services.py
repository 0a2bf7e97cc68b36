"""Promotion services: contradictions refused at the field, every change audited and
announced (revision + outbox), and the compiled set cached until a change."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.db import utcnow
from commerce.errors import InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.outbox import OutboxEvent
from commerce.promotions import active
from commerce.promotions.models import Promotion, Redemption
from commerce.promotions.services import (
    create_promotion,
    delete_promotion,
    duplicate_promotion,
    enable_promotion,
    end_promotion,
    pause_promotion,
    update_promotion,
)
from tests.commerce.promotions.conftest import price, row
from tests.conftest import count_queries

TEN = [row("amount_off_order", amount=1000)]


def refused(**fields):
    fields.setdefault("name", "Bad")
    with pytest.raises(ValidationError) as caught:
        create_promotion(by=None, **fields)
    return caught.value.errors


@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"name": " "}, "name", "Give the promotion a name."),
        (
            {"starts_at": "2027-07-01T00:00", "ends_at": "2027-06-01T00:00"},
            "ends_at",
            "The end must be after the start.",
        ),
        (
            {"timezone": "Mars/Olympus"},
            "timezone",
            "“Mars/Olympus” is not a time zone (e.g. Europe/Paris).",
        ),
        ({"stacking": "sometimes"}, "stacking", "Choose how it stacks with other promotions."),
        ({"usage_limit": 0}, "usage_limit", "A limit is 1 or more (empty: no limit)."),
        (
            {"actions": [row("percent_off_order", percent=120)]},
            ("actions", 0, "percent"),
            "A percentage cannot be over 100.",
        ),
        (
            {"actions": [row("percent_off_items", percent="0")]},
            ("actions", 0, "percent"),
            "Enter a percentage above 0.",
        ),
        (
            {"actions": [row("buy_x_get_y", buy=0, get=1)]},
            ("actions", 0, "buy"),
            "Enter 1 or more.",
        ),
        ({"actions": [row("buy_x_get_y", get=1)]}, ("actions", 0, "buy"), "Enter a whole number."),
        ({"actions": [row("buy_x_get_y", buy=2)]}, ("actions", 0, "get"), "Enter a whole number."),
        (
            {"conditions": [row("quantity_at_least")], "actions": [row("free_shipping")]},
            ("conditions", 0, "quantity"),
            "Enter a whole number.",
        ),
        (
            {"actions": [row("amount_off_order", amount="12.345")]},
            ("actions", 0, "amount"),
            "USD amounts have at most 2 decimal places.",
        ),
        (
            {"actions": [row("percent_off_items", percent=10, items={"products": [999999]})]},
            ("actions", 0, "items", "products"),
            "Unknown product (id 999999).",
        ),
        (
            {"conditions": [row("cart_contains", items={"categories": [424242]})]},
            ("conditions", 0, "items", "categories"),
            "Unknown category (id 424242).",
        ),
        (
            {"conditions": [row("cart_contains", items={"collections": [777]})]},
            ("conditions", 0, "items", "collections"),
            "Unknown collection (id 777).",
        ),
        (
            {"actions": [row("free_gift", variant_id=555555)]},
            ("actions", 0, "variant_id"),
            "Unknown variant (id 555555).",
        ),
        (
            {"actions": [row("free_shipping", methods=["NOPE"])]},
            ("actions", 0, "methods"),
            "Unknown shipping method NOPE.",
        ),
        (
            {"conditions": [row("shipping_country", countries=["XX"])]},
            ("conditions", 0, "countries"),
            "Unknown country code: XX.",
        ),
        (
            {"conditions": [row("time_window", start="18:00", end="09:00")]},
            ("conditions", 0, "end"),
            "The end time must be after the start time.",
        ),
        (
            {"conditions": [row("cart_contains", items={})]},
            ("conditions", 0, "items"),
            "Choose at least one product, category, collection or tag.",
        ),
        (
            {
                "actions": [
                    row(
                        "tiered",
                        tiers=[
                            {"threshold": 5000, "amount": 500},
                            {"threshold": 5000, "amount": 900},
                        ],
                    )
                ]
            },
            ("actions", 0, "tiers"),
            "Each tier needs its own threshold.",
        ),
        (
            {"conditions": [{"kind": "moon_phase", "params": {}}]},
            ("conditions", 0, "kind"),
            "Choose a kind of condition.",
        ),
    ],
)
def test_contradictions_are_refused_at_the_field(shop, fields, key, message):
    errors = refused(**fields)
    assert message in errors.get(key, []), errors
    assert db.session.scalar(select(func.count(Promotion.id))) == 0


def test_every_message_at_once(shop):
    errors = refused(
        name="",
        usage_limit=-1,
        actions=[row("percent_off_order", percent=101), row("buy_x_get_y", buy=0, get=0)],
    )
    assert {
        "name",
        "usage_limit",
        ("actions", 0, "percent"),
        ("actions", 1, "buy"),
        ("actions", 1, "get"),
    } <= set(errors)


def test_rows_are_stored_canonically(shop):
    p = create_promotion(
        by=None,
        name="  Spring   sale ",
        timezone="Europe/Paris",
        starts_at="2027-03-01T09:00",
        actions=[row("percent_off_items", percent="12.50", items={"tags": ["Sale", "sale"]})],
        conditions=[row("subtotal_at_least", amount="25.00")],
    )
    assert p.name == "Spring sale"
    assert p.starts_at == datetime(2027, 3, 1, 8, 0)  # 09:00 in Paris is 08:00 UTC in March
    assert p.actions[0].params == {"percent": "12.5", "items": {"tags": ["sale"]}}
    assert p.conditions[0].params == {"amount": 2500}
    assert p.state == "draft"


def test_changes_are_audited_announced_and_bump_the_revision(shop, make_staff):
    staff = make_staff("merchandiser")
    p = create_promotion(by=staff, name="Audited", actions=TEN)
    token = active.live_set().promotions  # warm the cache
    assert token == ()
    enable_promotion(p, by=staff)
    update_promotion(p, by=staff, priority=3)
    pause_promotion(p, by=staff)
    enable_promotion(p, by=staff)
    end_promotion(p, by=staff)
    actions = list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_type == "promotion", AuditEntry.subject_id == str(p.id))
            .order_by(AuditEntry.id)
        )
    )
    assert actions == [
        "promotion.create",
        "promotion.enable",
        "promotion.update",
        "promotion.pause",
        "promotion.resume",
        "promotion.end",
    ]
    update = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "promotion.update"))
    assert (update.before["priority"], update.after["priority"]) == (100, 3)
    assert update.actor_id == staff.id
    events = db.session.scalar(
        select(func.count(OutboxEvent.id)).where(OutboxEvent.topic == "promotion.changed")
    )
    assert events == 6
    assert p.status_at(utcnow()) == "expired"


def test_the_compiled_set_is_cached_until_a_change(shop, promo):
    p = promo(TEN)
    price({shop.tee: 5})
    with count_queries() as statements:
        assert price({shop.tee: 5}).totals.discounts == 1000
    assert not [s for s in statements if "FROM promotion_condition" in s]
    assert sum("promotion_revision" in s for s in statements) <= 1  # once per transaction
    update_promotion(p, by=None, actions=[row("amount_off_order", amount=300)])
    with count_queries() as statements:
        assert price({shop.tee: 5}).totals.discounts == 300
    assert [s for s in statements if "FROM promotion_condition" in s]


def test_end_now_duplicate_and_delete(shop, promo):
    p = promo(TEN, starts_at=utcnow() + timedelta(days=3), usage_limit=5)
    end_promotion(p, by=None)
    assert p.status_at(utcnow()) == "expired" and p.starts_at is None
    copy = duplicate_promotion(p, by=None)
    assert (copy.name, copy.state, copy.usage_limit) == (f"Copy of {p.name}", "draft", 5)
    assert copy.ends_at is None  # an ended schedule is not copied
    assert [a.params for a in copy.actions] == [a.params for a in p.actions]
    delete_promotion(copy, by=None)
    assert db.session.get(Promotion, copy.id) is None
    db.session.add(Redemption(promotion_id=p.id, reference="checkout:x", status="released"))
    db.session.commit()
    with pytest.raises(InvalidTransition):
        delete_promotion(p, by=None)


def test_enabling_needs_an_action_and_a_code_when_required(shop):
    p = create_promotion(by=None, name="Empty", requires_coupon=True)
    with pytest.raises(ValidationError) as caught:
        enable_promotion(p, by=None)
    assert set(caught.value.errors) == {"actions", "codes"}


def test_a_stored_row_that_no_longer_builds_never_breaks_pricing(shop):
    """Rows are re-validated when compiled: a broken one (older data, a hand edit) makes its
    promotion not apply, while carts still price and other promotions still work."""
    from commerce.promotions.models import PromotionAction

    broken = create_promotion(by=None, name="Broken", actions=[row("buy_x_get_y", buy=2, get=1)])
    fine = create_promotion(by=None, name="Fine", actions=[row("percent_off_order", percent=10)])
    enable_promotion(broken, by=None)
    enable_promotion(fine, by=None)
    action = db.session.scalar(
        select(PromotionAction).where(PromotionAction.promotion_id == broken.id)
    )
    action.params = {"buy": None, "get": 1}
    db.session.commit()
    active.forget_cache()
    priced = price({shop.tee: 3})
    assert [a.label for a in priced.order_adjustments] == ["Fine \u221210%"]
