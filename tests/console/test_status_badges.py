"""Order status badges are colour-coded (issue 16: 11): every order, payment and fulfilment
status has its own colour family in the console's stylesheet, and the badge still says it."""

from __future__ import annotations

import re
from pathlib import Path

from commerce.orders.models import FULFILLMENT_STATUSES, ORDER_STATUSES, PAYMENT_STATUSES

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "console.css"


def badge_backgrounds() -> dict[str, str]:
    found: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS.read_text()):
        background = re.search(r"background:\s*([^;]+);", body)
        for name in re.findall(r"\.badge-([a-z-]+)", selectors):
            if background:
                found[name] = background.group(1).strip()
    return found


def test_every_order_status_has_a_colour_and_they_differ() -> None:
    colours = badge_backgrounds()
    statuses = [*ORDER_STATUSES, *PAYMENT_STATUSES, *FULFILLMENT_STATUSES]
    missing = [s for s in statuses if s.replace("_", "-") not in colours]
    assert missing == []
    assert len({colours["open"], colours["completed"], colours["cancelled"]}) == 3
    assert len({colours["pending"], colours["paid"], colours["refunded"]}) == 3


def test_the_badge_says_the_status_in_words(client, login, place) -> None:
    login("support")
    place()
    page = client.get("/console/orders").get_data(as_text=True)
    assert re.search(r'class="badge badge-open">Open<', page)
