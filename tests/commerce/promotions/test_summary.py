"""The plain-language summary of a promotion: every kind of row, joined as a person says it,
with the schedule in the promotion's zone, the limits, and unfinished rows left out."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from commerce.promotions.summary import Names, join, schedule_text, summarize
from tests.commerce.promotions.conftest import row

NOW = datetime(2027, 5, 20, 9, 0)
NAMES = Names(
    products={1: "Plain tee", 2: "Sale socks"},
    variants={7: "Mug — Blue"},
    categories={10: "T-shirts", 11: "Mugs"},
    collections={20: "Summer"},
)
PARIS = ZoneInfo("Europe/Paris")


def say(**kw):
    kw.setdefault("currency", "USD")
    kw.setdefault("names", NAMES)
    kw.setdefault("now", NOW)
    return summarize(**kw)


def test_the_issue_example():
    text = say(
        actions=[row("percent_off_items", percent="20", items={"categories": [10]})],
        conditions=[row("quantity_at_least", quantity=2, items={"categories": [10]})],
        starts_at=datetime(2027, 6, 1, tzinfo=PARIS),
        ends_at=datetime(2027, 7, 1, tzinfo=PARIS),  # exclusive: the last day is 30 June
        timezone="Europe/Paris",
        usage_limit=1000,
    )
    assert text == "20% off T-shirts when you buy 2 or more, 1 June to 30 June, max 1,000 uses"


def test_buy_two_get_one_free():
    text = say(actions=[row("buy_x_get_y", buy=2, get=1, buy_items={"categories": [10]})])
    assert text == "Buy 2 T-shirts, get 1 free"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (row("percent_off_items", percent=12.5), "12.5% off everything"),
        (row("amount_off_items", amount="5"), "$5.00 off every item"),
        (
            row("amount_off_items", amount=500, items={"products": [1]}),
            "$5.00 off every unit of Plain tee",
        ),
        (row("fixed_price_items", price="9.99", items={"categories": [11]}), "Mugs at $9.99 each"),
        (row("fixed_price_items", price=0, items={"products": [1]}), "Plain tee free"),
        (row("percent_off_order", percent="10"), "10% off the order"),
        (row("amount_off_order", amount="10.00"), "$10.00 off the order"),
        (
            row(
                "buy_x_get_y",
                buy=3,
                get=1,
                percent=50,
                buy_items={"categories": [10]},
                get_items={"collections": [20]},
                max_per_order=2,
            ),
            "Buy 3 T-shirts, get 1 the Summer collection at 50% off (up to 2 times per order)",
        ),
        (
            row(
                "tiered",
                tiers=[{"threshold": "100", "amount": "15"}, {"threshold": "50", "amount": "5"}],
            ),
            "Spend $50.00 get $5.00 off and spend $100.00 get $15.00 off",
        ),
        (
            row("tiered", tiers=[{"threshold": 5000, "percent": "10"}], items={"tags": ["sale"]}),
            "Spend $50.00 get 10% off on items tagged sale",
        ),
        (row("free_shipping"), "Free shipping"),
        (
            row("free_shipping", methods=["STD"], countries=["FR", "DE"]),
            "Free shipping with STD to Germany or France",
        ),
        (row("free_gift", variant_id=7), "A free Mug — Blue"),
        (row("free_gift", variant_id=99, quantity=2), "2 free variant #99"),
    ],
)
def test_each_action(action, expected):
    assert say(actions=[action]) == expected


TEN_OFF = [row("amount_off_order", amount="10")]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (row("subtotal_at_least", amount="50"), "when the subtotal is at least $50.00"),
        (
            row("subtotal_at_least", amount=5000, items={"collections": [20]}),
            "when the Summer collection total at least $50.00",
        ),
        (
            row("quantity_at_least", quantity=3, items={"categories": [11]}),
            "when you buy 3 or more of Mugs",
        ),
        (row("cart_contains", items={"products": [1]}), "when the cart contains Plain tee"),
        (
            row("cart_excludes", items={"tags": ["sale"]}),
            "when the cart has none of items tagged sale",
        ),
        (row("customer_signed_in"), "for signed-in customers"),
        (row("customer_tag", tags="VIP, wholesale"), "for customers tagged vip or wholesale"),
        (row("first_order"), "on a customer's first order"),
        (row("shipping_country", countries="gb"), "when shipping to United Kingdom"),
        (row("coupon_code"), "with a coupon code"),
        (
            row("time_window", weekdays=["sat", "sun"], start="10:00", end="14:00"),
            "on Saturday or Sunday from 10:00 to 14:00",
        ),
        (row("time_window", start="17:00"), "from 17:00"),
    ],
)
def test_each_condition(condition, expected):
    assert say(actions=TEN_OFF, conditions=[condition]) == f"$10.00 off the order {expected}"


def test_conditions_join_by_all_or_any():
    conditions = [row("subtotal_at_least", amount="50"), row("first_order")]
    both = say(actions=TEN_OFF, conditions=conditions)
    either = say(actions=TEN_OFF, conditions=conditions, match="any")
    assert both.endswith("at least $50.00 and on a customer's first order")
    assert either.endswith("at least $50.00 or on a customer's first order")


def test_coupon_named_when_it_has_one_code():
    assert say(actions=TEN_OFF, requires_coupon=True, codes=["SUMMER"]) == (
        "$10.00 off the order with code SUMMER"
    )
    assert say(actions=TEN_OFF, requires_coupon=True, codes=["A", "B"]) == (
        "$10.00 off the order with a coupon code"
    )


def test_limits_and_stacking():
    text = say(
        actions=TEN_OFF,
        usage_limit=1,
        usage_limit_per_customer=1,
        usage_limit_per_code=5,
        stacking="exclusive",
    )
    assert text == (
        "$10.00 off the order, max 1 use, 1 per customer, each code usable 5 times, "
        "not combined with other promotions"
    )


def test_exclusions_and_unknown_ids():
    action = row(
        "percent_off_items",
        percent=20,
        items={"categories": [10, 404], "exclude_products": [2], "exclude_tags": ["final"]},
    )
    assert say(actions=[action]) == (
        "20% off T-shirts or category #404 (except Sale socks and items tagged final)"
    )


def test_form_text_and_stored_values_read_the_same():
    typed = say(actions=[row("amount_off_order", amount="12.50")])
    stored = say(actions=[row("amount_off_order", amount=1250)])
    assert typed == stored == "$12.50 off the order"


def test_unfinished_rows_are_left_out_and_counted():
    assert say() == "No discount yet: add an action"
    text = say(
        actions=[row("percent_off_order", percent="120"), row("free_shipping")],
        conditions=[row("subtotal_at_least", amount="")],
    )
    assert text == "Free shipping (2 unfinished rules left out)"
    assert say(actions=[row("nonsense")]) == (
        "No discount yet: add an action (1 unfinished rule left out)"
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (datetime(2027, 6, 1), datetime(2027, 6, 30), "1 June to 29 June"),
        (datetime(2027, 6, 1, 9, 30), None, "from 1 June, 09:30"),
        (None, datetime(2027, 6, 30, 18, 0), "until 30 June, 18:00"),
        (datetime(2026, 12, 1), datetime(2027, 1, 7), "1 December 2026 to 6 January 2027"),
        (datetime(2028, 3, 1), None, "from 1 March 2028"),
        (datetime(2027, 6, 1), datetime(2027, 6, 2), "on 1 June"),
        (None, None, ""),
    ],
)
def test_schedule_in_the_promotions_zone(start, end, expected):
    def local(moment):
        return moment.replace(tzinfo=PARIS) if moment else None

    assert schedule_text(local(start), local(end), "Europe/Paris", now=NOW) == expected


def test_stored_moments_are_utc():
    # 22:00 UTC on 31 May is midnight on 1 June in Paris (summer time)
    start = datetime(2027, 5, 31, 22, 0)
    assert schedule_text(start, None, "Europe/Paris", now=NOW) == "from 1 June"
    assert schedule_text(start, None, "UTC", now=NOW) == "from 31 May, 22:00"
    aware = datetime(2027, 5, 31, 22, 0, tzinfo=UTC)
    assert schedule_text(aware, None, "Europe/Paris", now=NOW) == "from 1 June"


def test_join():
    assert join([]) == ""
    assert join(["a"]) == "a"
    assert join(["a", "b"], "or") == "a or b"
    assert join(["a", "b", "c"]) == "a, b and c"
