"""The built-in test gateway: deterministic, in-process, no network, no state.

The card number decides the outcome (any other Luhn-valid number succeeds):

    4242424242424242  success
    4000000000000002  declined            (card_declined)
    4000000000009995  insufficient funds  (insufficient_funds)
    4000000000000119  processing error    (processing_error)
    4000000000003220  requires action: authorize answers REQUIRES_ACTION with a token,
                      confirm(provider_reference, token) completes it

The confirmation token is an HMAC of the provider reference, so the gateway needs no memory
and works the same in every worker process. Webhooks are signed with HMAC-SHA256 over
"<timestamp>.<body>" using PAYMENTS_WEBHOOK_SECRET, sent as
`Payments-Signature: t=<unix seconds>,v1=<hex digest>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from commerce.db import utcnow
from commerce.errors import WebhookRejected
from commerce.payments.provider import (
    FAILED,
    REQUIRES_ACTION,
    SUCCEEDED,
    PaymentProvider,
    ProviderResult,
    ValidCard,
    WebhookEvent,
)

SUCCESS_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
PROCESSING_ERROR_CARD = "4000000000000119"
REQUIRES_ACTION_CARD = "4000000000003220"

FAILURES = {
    DECLINE_CARD: ("card_declined", "The card was declined."),
    INSUFFICIENT_FUNDS_CARD: ("insufficient_funds", "The card has insufficient funds."),
    PROCESSING_ERROR_CARD: (
        "processing_error",
        "The card could not be processed. Please try again.",
    ),
}

SIGNATURE_HEADER = "Payments-Signature"
REPLAY_WINDOW = 300  # seconds: an older (or that much newer) timestamp is refused
DEFAULT_AUTHORIZATION_TTL = timedelta(days=7)


class TestGateway(PaymentProvider):
    __test__ = False  # not a pytest test class, despite the name
    name = "test"

    def __init__(
        self,
        *,
        webhook_secret: str,
        authorization_ttl: timedelta = DEFAULT_AUTHORIZATION_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not webhook_secret:
            raise ValueError("the test gateway needs a webhook secret")
        self._secret = webhook_secret.encode()
        self.authorization_ttl = authorization_ttl
        self._clock = clock

    # -- payments -------------------------------------------------------------------------------

    def authorize(
        self,
        *,
        amount: int,
        currency: str,
        card: ValidCard,
        reference: str,
        idempotency_key: str,
    ) -> ProviderResult:
        ref = "tg_auth_" + secrets.token_hex(12)
        if card.number in FAILURES:
            code, message = FAILURES[card.number]
            return ProviderResult(FAILED, amount=0, reference=ref, error_code=code, message=message)
        if card.number == REQUIRES_ACTION_CARD:
            return ProviderResult(
                REQUIRES_ACTION,
                amount=amount,
                reference=ref,
                action_token=self._action_token(ref),
                message="The card issuer asks the customer to confirm this payment.",
            )
        return self._authorized(ref, amount)

    def confirm(self, *, provider_reference: str, token: str) -> ProviderResult:
        if not hmac.compare_digest(str(token), self._action_token(provider_reference)):
            return ProviderResult(
                FAILED,
                reference=provider_reference,
                error_code="authentication_failed",
                message="The payment could not be confirmed.",
            )
        return self._authorized(provider_reference, None)

    def capture(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(SUCCEEDED, amount=amount, reference="tg_cap_" + secrets.token_hex(12))

    def void(self, *, provider_reference: str) -> ProviderResult:
        return ProviderResult(SUCCEEDED, reference=provider_reference)

    def refund(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(SUCCEEDED, amount=amount, reference="tg_ref_" + secrets.token_hex(12))

    def _authorized(self, ref: str, amount: int | None) -> ProviderResult:
        return ProviderResult(
            SUCCEEDED,
            amount=amount or 0,  # 0 on confirm: the amount authorized is the one asked first
            reference=ref,
            expires_at=self._clock() + self.authorization_ttl,
        )

    def _action_token(self, provider_reference: str) -> str:
        mac = hmac.new(self._secret, b"action:" + provider_reference.encode(), hashlib.sha256)
        return "tg_act_" + mac.hexdigest()[:32]

    # -- webhooks -------------------------------------------------------------------------------

    def sign(self, body: bytes, *, timestamp: int) -> str:
        mac = hmac.new(self._secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
        return f"t={timestamp},v1={mac.hexdigest()}"

    def build_webhook(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """What the gateway would POST to us: (headers, body). For tests and the dev console."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        event = {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "type": event_type,
            "created": timestamp,
            "data": data,
        }
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        return {SIGNATURE_HEADER: self.sign(body, timestamp=timestamp)}, body

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> WebhookEvent:
        header = next(
            (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
        )
        if not header:
            raise WebhookRejected("Missing signature.", reason="missing_signature")
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        timestamp, signature = parts.get("t", ""), parts.get("v1", "")
        if not timestamp.isdigit() or not signature:
            raise WebhookRejected("Malformed signature header.", reason="malformed_signature")
        expected = self.sign(body, timestamp=int(timestamp)).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, signature):
            raise WebhookRejected("Bad signature.", reason="bad_signature")
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > REPLAY_WINDOW:
            raise WebhookRejected("Webhook timestamp outside the replay window.", reason="stale")
        try:
            event = json.loads(body)
            return WebhookEvent(
                id=str(event["id"]),
                type=str(event["type"]),
                created=int(event.get("created", timestamp)),
                data=dict(event.get("data") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("Unreadable webhook body.", reason="bad_body") from exc
