"""The built-in sandbox gateway (PAYMENTS_PROVIDER "test"): deterministic, no network, with a
memory of its own.

The card number decides the outcome (any other Luhn-valid number succeeds):

    4242424242424242  success
    4000000000000002  declined            (card_declined)
    4000000000009995  insufficient funds  (insufficient_funds)
    4000000000000119  processing error    (processing_error)
    4000000000003220  requires action: authorize answers REQUIRES_ACTION with a token,
                      confirm(provider_reference, token) completes it

It behaves like a real provider where crashes make a difference: every operation is
idempotent per key (the same key answers the first result, a decline included), it enforces
what an authorization allows (one capture of at most the amount, before expiry; no capture
after a void; refunds up to the capture), and `lookup` answers what it did for a key or
reference. Its memory is a small SQLite file (PAYMENTS_TEST_GATEWAY_DB, under the instance
folder by default) shared by every process and independent of our database, since it stands
for an external service. PAYMENTS_TEST_GATEWAY_LATENCY_MS (off by default) makes each call
take that long, half before the gateway acts and half after, as a network would, so fault
tests can land a crash inside a call on either side of it.

The confirmation token is an HMAC of the provider reference. Webhooks are signed with
HMAC-SHA256 over "<timestamp>.<body>" using PAYMENTS_WEBHOOK_SECRET, sent as
`Payments-Signature: t=<unix seconds>,v1=<hex digest>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from commerce.db import utcnow
from commerce.errors import WebhookRejected
from commerce.payments.provider import (
    AUTHORIZATION,
    CAPTURE,
    FAILED,
    NOT_FOUND,
    REFUND,
    REQUIRES_ACTION,
    SUCCEEDED,
    VOID,
    PaymentProvider,
    ProviderResult,
    ValidCard,
    WebhookEvent,
)
from commerce.payments.sandbox_gateway_store import GatewayStore

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

CONFIRM_FAILED = "The payment could not be confirmed."
# Authorization statuses in the gateway's memory.
AUTHORIZED, VOIDED, CAPTURED = "authorized", "voided", "captured"


def _failed(code: str, message: str, reference: str | None = None) -> ProviderResult:
    return ProviderResult(FAILED, reference=reference, error_code=code, message=message)


def _reused() -> ProviderResult:
    return _failed(
        "idempotency_key_reused", "This idempotency key was used for a different request."
    )


class SandboxGateway(PaymentProvider):
    __test__ = False  # not a pytest test class, despite the name
    name = "test"

    def __init__(
        self,
        *,
        webhook_secret: str,
        authorization_ttl: timedelta = DEFAULT_AUTHORIZATION_TTL,
        clock: Callable[[], datetime] = utcnow,
        store: str | Path | None = None,
        latency: float = 0.0,
    ) -> None:
        if not webhook_secret:
            raise ValueError("the test gateway needs a webhook secret")
        self._secret = webhook_secret.encode()
        self.authorization_ttl = authorization_ttl
        self._clock = clock
        self.store = GatewayStore(store)
        self.latency = max(float(latency), 0.0)

    def _travel(self) -> None:
        """Half of the configured latency: the request on its way, or the answer on its way."""
        if self.latency:
            time.sleep(self.latency / 2)

    def _now(self) -> str:
        return self._clock().isoformat()

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
        self._travel()
        with self.store.atomic() as conn:
            row = _authorization(conn, key=idempotency_key)
            if row is not None:
                same = (row["our_reference"], row["amount"], row["currency"]) == (
                    reference,
                    amount,
                    currency,
                )
                result = self._authorization_result(row) if same else _reused()
            else:
                result = self._new_authorization(conn, amount, currency, card, reference)
                now = self._now()
                conn.execute(
                    "INSERT INTO authorization (reference, idempotency_key, our_reference,"
                    " amount, currency, card_last4, status, error_code, message, action_token,"
                    " expires_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        result.reference,
                        idempotency_key,
                        reference,
                        amount,
                        currency,
                        card.last4,
                        AUTHORIZED if result.status == SUCCEEDED else result.status,
                        result.error_code,
                        result.message,
                        result.action_token,
                        result.expires_at.isoformat() if result.expires_at else None,
                        now,
                        now,
                    ),
                )
        self._travel()
        return result

    def _new_authorization(
        self, conn: sqlite3.Connection, amount: int, currency: str, card: ValidCard, ref: str
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
        return ProviderResult(
            SUCCEEDED,
            amount=amount,
            reference=ref,
            expires_at=self._clock() + self.authorization_ttl,
        )

    def _authorization_result(self, row: Mapping[str, Any]) -> ProviderResult:
        """An authorization's outcome as the gateway remembers it."""
        status = row["status"]
        if status == REQUIRES_ACTION:
            return ProviderResult(
                REQUIRES_ACTION,
                amount=row["amount"],
                reference=row["reference"],
                action_token=row["action_token"],
                message=row["message"],
            )
        if status == FAILED:
            return _failed(row["error_code"] or "failed", row["message"], row["reference"])
        expires = row["expires_at"]
        return ProviderResult(
            SUCCEEDED,
            amount=row["amount"],
            reference=row["reference"],
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    def confirm(self, *, provider_reference: str, token: str) -> ProviderResult:
        """A wrong token fails (and fails a waiting authorization); the right one authorizes
        a waiting authorization and answers the outcome of one confirmed before."""
        self._travel()
        with self.store.atomic() as conn:
            row = _authorization(conn, reference=provider_reference)
            right = hmac.compare_digest(str(token), self._action_token(provider_reference))
            if row is None or not right:
                if row is not None and row["status"] == REQUIRES_ACTION:
                    conn.execute(
                        "UPDATE authorization SET status = ?, error_code = ?, message = ?,"
                        " updated_at = ? WHERE reference = ?",
                        (FAILED, "authentication_failed", CONFIRM_FAILED, self._now(), row[0]),
                    )
                result = _failed("authentication_failed", CONFIRM_FAILED, provider_reference)
            elif row["status"] == VOIDED:
                result = _failed("voided", "The payment was cancelled.", provider_reference)
            elif row["status"] != REQUIRES_ACTION:
                result = self._authorization_result(row)
            else:
                expires = self._clock() + self.authorization_ttl
                conn.execute(
                    "UPDATE authorization SET status = ?, expires_at = ?, updated_at = ?"
                    " WHERE reference = ?",
                    (AUTHORIZED, expires.isoformat(), self._now(), provider_reference),
                )
                # 0 on confirm: the amount authorized is the one asked first
                result = ProviderResult(SUCCEEDED, reference=provider_reference, expires_at=expires)
        self._travel()
        return result

    def capture(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        def act(conn: sqlite3.Connection, auth: Mapping[str, Any]) -> ProviderResult:
            if auth["status"] == CAPTURED:
                return _failed("already_captured", "This payment was captured already.")
            if auth["status"] != AUTHORIZED:
                return _failed("not_authorized", f"A {auth['status']} payment cannot be captured.")
            expires = auth["expires_at"]
            if expires and datetime.fromisoformat(expires) <= self._clock():
                return _failed("authorization_expired", "The authorization has expired.")
            if not 0 < amount <= auth["amount"] or currency != auth["currency"]:
                return _failed("amount_too_large", "More than was authorized.")
            conn.execute(
                "UPDATE authorization SET status = ?, captured = ?, updated_at = ?"
                " WHERE reference = ?",
                (CAPTURED, amount, self._now(), provider_reference),
            )
            return ProviderResult(
                SUCCEEDED, amount=amount, reference="tg_cap_" + secrets.token_hex(12)
            )

        return self._operation(CAPTURE, idempotency_key, provider_reference, amount, act)

    def void(self, *, provider_reference: str, idempotency_key: str = "") -> ProviderResult:
        def act(conn: sqlite3.Connection, auth: Mapping[str, Any]) -> ProviderResult:
            if auth["status"] == VOIDED:
                return ProviderResult(SUCCEEDED, reference=provider_reference)
            if auth["status"] not in (AUTHORIZED, REQUIRES_ACTION):
                return _failed("not_voidable", f"A {auth['status']} payment cannot be voided.")
            conn.execute(
                "UPDATE authorization SET status = ?, updated_at = ? WHERE reference = ?",
                (VOIDED, self._now(), provider_reference),
            )
            return ProviderResult(SUCCEEDED, reference=provider_reference)

        return self._operation(VOID, idempotency_key, provider_reference, 0, act)

    def refund(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        def act(conn: sqlite3.Connection, auth: Mapping[str, Any]) -> ProviderResult:
            if auth["status"] != CAPTURED:
                return _failed("not_captured", "Nothing was captured to refund.")
            if not 0 < amount <= auth["captured"] - auth["refunded"]:
                return _failed("amount_too_large", "More than is left to refund.")
            conn.execute(
                "UPDATE authorization SET refunded = refunded + ?, updated_at = ?"
                " WHERE reference = ?",
                (amount, self._now(), provider_reference),
            )
            return ProviderResult(
                SUCCEEDED, amount=amount, reference="tg_ref_" + secrets.token_hex(12)
            )

        return self._operation(REFUND, idempotency_key, provider_reference, amount, act)

    def _operation(
        self,
        kind: str,
        key: str,
        provider_reference: str,
        amount: int,
        act: Callable[[sqlite3.Connection, Mapping[str, Any]], ProviderResult],
    ) -> ProviderResult:
        """Capture, void or refund once per key: a repeat answers the stored result."""
        self._travel()
        with self.store.atomic() as conn:
            done = (
                conn.execute("SELECT * FROM operation WHERE idempotency_key = ?", (key,)).fetchone()
                if key
                else None
            )
            if done is not None:
                same = (done["kind"], done["authorization"], done["amount"]) == (
                    kind,
                    provider_reference,
                    amount,
                )
                result = _operation_result(done) if same else _reused()
            else:
                auth = _authorization(conn, reference=provider_reference)
                result = (
                    act(conn, auth)
                    if auth is not None
                    else _failed("no_such_payment", "No such payment.")
                )
                if key:
                    conn.execute(
                        "INSERT INTO operation (idempotency_key, kind, authorization, amount,"
                        " status, reference, error_code, message, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            key,
                            kind,
                            provider_reference,
                            amount,
                            result.status,
                            result.reference,
                            result.error_code,
                            result.message,
                            self._now(),
                        ),
                    )
        self._travel()
        return result

    def lookup(
        self, *, kind: str, idempotency_key: str = "", provider_reference: str = ""
    ) -> ProviderResult:
        with self.store.atomic() as conn:
            if kind == AUTHORIZATION:
                row = (
                    _authorization(conn, key=idempotency_key)
                    if idempotency_key
                    else _authorization(conn, reference=provider_reference)
                )
                return (
                    self._authorization_result(row)
                    if row is not None
                    else ProviderResult(NOT_FOUND)
                )
            done = (
                conn.execute(
                    "SELECT * FROM operation WHERE idempotency_key = ? AND kind = ?",
                    (idempotency_key, kind),
                ).fetchone()
                if idempotency_key
                else None
            )
            if done is not None:
                return _operation_result(done)
            if kind == VOID and provider_reference:
                auth = _authorization(conn, reference=provider_reference)
                if auth is not None and auth["status"] == VOIDED:
                    return ProviderResult(SUCCEEDED, reference=provider_reference)
            return ProviderResult(NOT_FOUND)

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


def _authorization(
    conn: sqlite3.Connection, *, key: str | None = None, reference: str | None = None
) -> sqlite3.Row | None:
    if key:
        return conn.execute(
            "SELECT * FROM authorization WHERE idempotency_key = ?", (key,)
        ).fetchone()
    if reference:
        return conn.execute(
            "SELECT * FROM authorization WHERE reference = ?", (reference,)
        ).fetchone()
    return None


def _operation_result(row: Mapping[str, Any]) -> ProviderResult:
    if row["status"] == SUCCEEDED:
        return ProviderResult(
            SUCCEEDED,
            amount=row["amount"],
            reference=row["reference"] or row["authorization"],
        )
    return _failed(row["error_code"] or "failed", row["message"], row["reference"])
