"""Card testing across checkouts (the probe's replay): the place-order limit is per checkout, so
the probe opened a fresh checkout for each card. Declined cards are now counted per client
address; past DECLINE_RATE_LIMIT every payment from that address is refused for a while, with
a message at the card field and 429, before the provider is asked."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.extensions import db, limiter
from commerce.payments.models import Payment
from tests.storefront.test_cart_checkout import CARD, ready_to_pay

DECLINED = dict(CARD, card_number="4000000000000002")
ERRORS = dict(CARD, card_number="4000000000000119")  # the provider's fault, not the card's


@pytest.fixture
def limits_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "DECLINE_RATE_LIMIT", "3 per minute")
    monkeypatch.setattr(limiter, "enabled", True)
    limiter.reset()
    yield
    limiter.reset()


def payments() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Payment)) or 0)


def test_declines_from_one_address_across_checkouts_stop_its_payments(
    app, limits_on, checkout_shop
):
    answers = []
    for _ in range(3):  # a fresh shopper and checkout for each card
        shopper = app.test_client()
        key = ready_to_pay(shopper, checkout_shop.small)
        answers.append(shopper.post(f"/checkout/{key}/place", data=DECLINED).status_code)
    assert answers == [402, 402, 402]

    shopper = app.test_client()
    key = ready_to_pay(shopper, checkout_shop.small)
    before = payments()
    refused = shopper.post(f"/checkout/{key}/place", data=CARD)  # even a good card
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Too many cards were declined from your connection" in page
    assert "You have not been charged" in page
    assert int(refused.headers["Retry-After"]) >= 1
    assert payments() == before  # the provider was not asked
    htmx = shopper.post(f"/checkout/{key}/place", data=CARD, headers={"HX-Request": "true"})
    assert htmx.status_code == 429

    elsewhere = app.test_client()
    key = ready_to_pay(elsewhere, checkout_shop.small)
    placed = elsewhere.post(
        f"/checkout/{key}/place", data=CARD, environ_base={"REMOTE_ADDR": "198.51.100.9"}
    )
    assert placed.status_code == 303


def test_provider_errors_and_successes_do_not_count(app, limits_on, checkout_shop):
    for card in (ERRORS, ERRORS, ERRORS, CARD, CARD):
        shopper = app.test_client()
        key = ready_to_pay(shopper, checkout_shop.small)
        answer = shopper.post(f"/checkout/{key}/place", data=card).status_code
        assert answer == (303 if card is CARD else 402)
