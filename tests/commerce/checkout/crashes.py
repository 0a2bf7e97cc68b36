"""Crashes at chosen points, for the recovery tests on SQLite (the real kills are in
tests/faults): the payment provider's call raises as if our process died just before or just
after the provider acted (a test double of the external service, nothing of ours is patched),
and the checkout is left as a dead process leaves it (placing, under a claim nobody holds)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from commerce.checkout.cart import add_to_cart
from commerce.checkout.models import PLACING, Checkout
from commerce.checkout.services import choose_shipping_method, save_information, start_checkout
from commerce.db import utcnow
from commerce.extensions import db
from commerce.payments import sandbox_gateway as tg
from commerce.payments.services import get_provider
from tests.conftest import US_ADDRESS


class ProcessKilled(BaseException):
    """Stands for kill -9: not an Exception, so nothing on the way handles it as an error."""


def die_in(monkeypatch: pytest.MonkeyPatch, method: str, *, after: bool) -> None:
    """The next call of the gateway's `method` kills the caller, before the provider acts or
    after it acted (its answer lost on the way back). Later calls work."""
    original = getattr(tg.SandboxGateway, method)
    armed = [True]

    def dying(self: Any, **kw: Any) -> Any:
        if not armed[0]:
            return original(self, **kw)
        armed[0] = False
        if after:
            original(self, **kw)
        raise ProcessKilled(method)

    monkeypatch.setattr(tg.SandboxGateway, method, dying)


def as_if_dead(checkout: Checkout) -> None:
    """What a killed place-order leaves: the checkout placing, claimed by a process that is
    gone (the claim's handler never ran)."""
    db.session.execute(
        update(Checkout)
        .where(Checkout.id == checkout.id)
        .values(status=PLACING, placing_since=utcnow(), claim_token="dead-process")
    )
    db.session.commit()
    db.session.refresh(checkout)


def ready_checkout(shop: Any, quantity: int = 2, cart: Any = None) -> tuple[Any, Checkout]:
    cart = add_to_cart(cart, variant_id=shop.small, quantity=quantity)
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return cart, checkout


def provider_authorizations(reference: str) -> list[dict[str, Any]]:
    """What the provider holds for a checkout (the source of truth), oldest first."""
    return get_provider().store.authorizations(reference)
