"""Order helpers for the refund and return tests: paid orders through the real checkout,
shipping through the real fulfillment service, a payment provider whose refunds fail on demand,
and the invariants every test checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.extensions import db
from commerce.inventory.models import StockLevel, StockMovement
from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment
from commerce.orders.models import Order
from commerce.orders.refunds import refund_discrepancies, succeeded_refunds_total
from commerce.payments.models import Payment
from commerce.payments.provider import FAILED, ProviderResult
from commerce.payments.sandbox_gateway import SandboxGateway
from commerce.payments.services import get_provider, register_provider
from tests.conftest import TEST_CARD, US_ADDRESS

_keys = itertools.count(1)


def new_key(prefix: str = "refund") -> str:
    return f"{prefix}-{next(_keys)}"


def place_paid_order(shop: Any, *, small: int = 2, medium: int = 0, email: str = "") -> Order:
    """An order placed by the real checkout (captured at placement by default)."""
    cart = add_to_cart(None, variant_id=shop.small, quantity=small) if small else None
    if medium:
        cart = add_to_cart(cart, variant_id=shop.medium, quantity=medium)
    checkout = start_checkout(cart)
    save_information(
        checkout, email=email or f"shopper{next(_keys)}@example.com", address=US_ADDRESS
    )
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    return order


def ship(order: Order, lines: Mapping[int, int] | None = None, *, by: Any = None) -> Order:
    """Ship units (order_line_id -> quantity; None: everything) with the fulfillment service:
    one parcel per location the units wait at, picked and shipped through the ledger."""
    left = dict(lines) if lines is not None else None
    for location_id, picks in pickable(order).items():
        take: dict[int, int] | None = None
        if left is not None:
            waiting: dict[int, int] = {}
            for pick in picks:
                waiting[pick.order_line_id] = waiting.get(pick.order_line_id, 0) + pick.quantity
            take = {k: min(left.get(k, 0), v) for k, v in waiting.items() if left.get(k)}
            if not take:
                continue
            for line_id, quantity in take.items():
                left[line_id] -= quantity
        parcel = create_fulfillment(order, location_id=location_id, lines=take, by=by)
        ship_fulfillment(parcel, carrier="UPS", tracking_number=f"1Z{parcel.id:08d}", by=by)
    assert left is None or not any(left.values()), f"not that many units wait: {left}"
    shipped = db.session.get(Order, order.id, populate_existing=True)
    assert shipped is not None
    for line in shipped.lines:
        db.session.refresh(line)
    return shipped


class FlakyRefundGateway(SandboxGateway):
    """The test gateway, except that refunds fail while `failing` is set (a bank that is down):
    a test double of the external provider, the only way to get a real refund failure."""

    __test__ = False
    name = "flaky_refunds"
    failing = True

    def refund(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        if self.failing:
            return ProviderResult(
                FAILED, error_code="processing_error", message="The bank did not answer."
            )
        return super().refund(
            provider_reference=provider_reference,
            amount=amount,
            currency=currency,
            idempotency_key=idempotency_key,
        )


def use_flaky_gateway(app: Flask, monkeypatch: Any) -> FlakyRefundGateway:
    """Register the flaky provider and make it the one new payments use, for this test."""
    register_provider(
        FlakyRefundGateway.name,
        lambda config: FlakyRefundGateway(webhook_secret=config["PAYMENTS_WEBHOOK_SECRET"]),
    )
    monkeypatch.setitem(app.config, "PAYMENTS_PROVIDER", FlakyRefundGateway.name)
    gateway = get_provider(FlakyRefundGateway.name)
    assert isinstance(gateway, FlakyRefundGateway)
    gateway.failing = True
    return gateway


def assert_refunds_consistent(order: Order) -> None:
    """The money invariants: never above what was paid, the payment agrees with the order, the
    succeeded refunds add up to refunded_total (nothing in flight here), counters within bounds."""
    db.session.refresh(order)
    assert 0 <= order.refunded_total <= order.paid_total
    payment = db.session.get(Payment, order.payment_id, populate_existing=True)
    assert payment is not None
    assert payment.refunded_amount == order.refunded_total
    assert succeeded_refunds_total(order) == order.refunded_total
    for line in order.lines:
        db.session.refresh(line)
        assert 0 <= line.refunded_quantity <= line.quantity
        assert 0 <= line.returned_quantity <= line.fulfilled_quantity
    assert refund_discrepancies(order) == []


def ledger_mismatches() -> list[tuple[int, int, int]]:
    """Levels whose on_hand is not the sum of their movements (level id, on_hand, ledger)."""
    ledger = dict(
        db.session.execute(
            select(StockMovement.stock_level_id, func.sum(StockMovement.delta)).group_by(
                StockMovement.stock_level_id
            )
        ).all()
    )
    return [
        (level.id, level.on_hand, int(ledger.get(level.id) or 0))
        for level in db.session.scalars(
            select(StockLevel).execution_options(populate_existing=True)
        )
        if level.on_hand != int(ledger.get(level.id) or 0)
    ]
