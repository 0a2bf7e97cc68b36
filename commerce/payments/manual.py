"""Money received outside the shop (bank transfer, cash, a cheque): a payment record with no
card network behind it.

Staff marking a draft order paid record one (`record_manual_payment`): a Payment captured in
full under the provider MANUAL, with one succeeded capture call whose message is how it was
paid, so the order's payment section, timeline and refunds treat it like any other payment.
Its "provider" (`OfflineProvider`) moves no money: a refund of it succeeds at once and says it
was refunded outside the shop, since the staff member pays the customer back themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commerce import outbox
from commerce.db import utcnow
from commerce.errors import WebhookRejected
from commerce.extensions import db
from commerce.payments.models import (
    CAPTURE,
    CAPTURED,
    MANUAL,
    TX_SUCCEEDED,
    Payment,
    PaymentTransaction,
)
from commerce.payments.provider import (
    FAILED,
    SUCCEEDED,
    PaymentProvider,
    ProviderResult,
    ValidCard,
    WebhookEvent,
)

REFUNDED_OUTSIDE = "Refunded outside the shop: pay the customer back yourself."
MAX_HOW = 120


class OfflineProvider(PaymentProvider):
    """The provider of MANUAL payments: nothing to call, so every answer is immediate."""

    name = MANUAL

    def authorize(
        self, *, amount: int, currency: str, card: ValidCard, reference: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(FAILED, error_code="not_supported", message="Not a card provider.")

    def confirm(self, *, provider_reference: str, token: str) -> ProviderResult:
        return ProviderResult(FAILED, error_code="not_supported", message="Not a card provider.")

    def capture(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(SUCCEEDED, amount=amount, reference=provider_reference)

    def void(self, *, provider_reference: str, idempotency_key: str = "") -> ProviderResult:
        return ProviderResult(SUCCEEDED, reference=provider_reference)

    def refund(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(
            SUCCEEDED, amount=amount, reference=provider_reference, message=REFUNDED_OUTSIDE
        )

    def lookup(
        self, *, kind: str, idempotency_key: str = "", provider_reference: str = ""
    ) -> ProviderResult:
        # A refund or capture call recorded pending (a crash before its answer) went nowhere:
        # it succeeds as it would have.
        return ProviderResult(SUCCEEDED, reference=provider_reference, message=REFUNDED_OUTSIDE)

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> WebhookEvent:
        raise WebhookRejected("Payments made outside the shop send no webhooks.")


def offline_provider(config: Mapping[str, Any]) -> PaymentProvider:
    return OfflineProvider()


def record_manual_payment(
    *, reference: str, amount: int, currency: str, how: str, by: Any
) -> Payment:
    """(In the caller's transaction.) A payment received outside the shop, captured in full:
    its capture call carries `how` ("Bank transfer, ref 123") and who recorded it."""
    now = utcnow()
    payment = Payment(
        reference=reference,
        amount=amount,
        currency=currency,
        status=CAPTURED,
        authorized_amount=amount,
        captured_amount=amount,
        refunded_amount=0,
        provider=MANUAL,
        provider_reference=f"{MANUAL}:{reference}",
        request_key="",
        error_message="",
        created_at=now,
        updated_at=now,
    )
    payment.transactions.append(
        PaymentTransaction(
            kind=CAPTURE,
            status=TX_SUCCEEDED,
            amount=amount,
            currency=currency,
            message=how[:MAX_HOW],
            request_key="",
            actor_id=getattr(by, "id", None),
            created_at=now,
            completed_at=now,
        )
    )
    db.session.add(payment)
    db.session.flush()
    # As a card capture tells integrations (the "order.paid" webhook), once committed.
    outbox.enqueue(
        "payment.captured",
        {
            "payment_id": payment.id,
            "reference": reference,
            "status": CAPTURED,
            "currency": currency,
            "amount": amount,
        },
    )
    return payment
