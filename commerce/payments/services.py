"""Payment services: authorize, confirm, capture, void, refund, and webhooks.

Every provider call is three steps, and no database transaction is open during the call, so a
slow provider never holds a row lock:

  1. a short transaction records the intent and commits: a pending PaymentTransaction, and for
     confirm/capture/void/refund a conditional UPDATE that *claims* the payment (moves it to an
     in-flight status, or reserves the refund amount) — its row count says whether it fitted;
  2. the provider is called (`_call_provider` refuses to run inside a transaction);
  3. a second short transaction records the answer, or gives the claim back if the call failed.

Refund limits are guarded in the database: step 1 is
`UPDATE payment SET refunded_amount = refunded_amount + :a
  WHERE id = :id AND captured_amount - refunded_amount >= :a`, so concurrent refunds can never
exceed the capture, and a CHECK constraint is the last guard. `refunded_amount` therefore counts
refunds in flight as well as those that succeeded.

Idempotency keys guard success, not failure. The key sits in a UNIQUE column
(`Payment.idempotency_key` for authorizations, `PaymentTransaction.idempotency_key` for captures
and refunds) from step 1 while the call is in flight and after it succeeds; if the call fails,
step 3 clears that column (the key stays in the non-unique `request_key` for the record), so a
retry with the same key — say with another card — is a fresh attempt. A repeat of a succeeded
key returns the first result without calling the provider; a repeat while the first call is
still in flight raises Conflict; the unique index settles concurrent duplicates.

The services that call the provider are workflows (`@workflow`): they commit their own steps
and refuse to run inside `commerce.db.transaction()`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from commerce import audit, outbox
from commerce.db import in_transaction, service, transaction, utcnow, workflow
from commerce.errors import (
    AuthorizationExpired,
    CommerceError,
    Conflict,
    InvalidTransition,
    NotFound,
    PaymentFailed,
    RefundExceedsCapture,
    ValidationError,
)
from commerce.extensions import db
from commerce.money import Money
from commerce.payments.manual import offline_provider
from commerce.payments.models import (
    AUTHORIZE,
    AUTHORIZED,
    CAPTURE,
    CAPTURED,
    CAPTURING,
    CONFIRM,
    EXPIRED,
    FAILED,
    PARTIALLY_REFUNDED,
    PENDING,
    REFUND,
    REFUNDABLE,
    REFUNDED,
    REQUIRES_ACTION,
    TX_FAILED,
    TX_PENDING,
    TX_REQUIRES_ACTION,
    TX_SUCCEEDED,
    VOID,
    VOIDED,
    VOIDING,
    Payment,
    PaymentEvent,
    PaymentTransaction,
)
from commerce.payments.provider import (
    AUTHORIZATION,
    NOT_FOUND,
    NUMBER_FIELD,
    SUCCEEDED,
    CardDetails,
    PaymentProvider,
    ProviderResult,
    ValidCard,
    WebhookEvent,
    validate_card,
)
from commerce.payments.provider import FAILED as RESULT_FAILED
from commerce.payments.provider import REQUIRES_ACTION as RESULT_REQUIRES_ACTION
from commerce.payments.sandbox_gateway import DEFAULT_AUTHORIZATION_TTL, SandboxGateway

log = logging.getLogger(__name__)

# Decline codes that are about the card the customer typed (shown at the card number field).
CARD_CODES = {"card_declined", "insufficient_funds", "authentication_failed"}
DEFAULT_IN_FLIGHT_TIMEOUT = timedelta(minutes=2)
NOT_RECEIVED = "not_received"  # error code: the provider never got the request

# -- providers ----------------------------------------------------------------------------------

ProviderFactory = Callable[[Mapping[str, Any]], PaymentProvider]
_factories: dict[str, ProviderFactory] = {
    "test": lambda config: SandboxGateway(
        webhook_secret=config["PAYMENTS_WEBHOOK_SECRET"],
        authorization_ttl=config.get("PAYMENTS_AUTHORIZATION_TTL", DEFAULT_AUTHORIZATION_TTL),
        store=config.get("PAYMENTS_TEST_GATEWAY_DB"),
        latency=int(config.get("PAYMENTS_TEST_GATEWAY_LATENCY_MS") or 0) / 1000,
    ),
    "manual": offline_provider,  # money received outside the shop (manual.py)
}


def register_provider(name: str, factory: ProviderFactory) -> None:
    _factories[name] = factory


def get_provider(name: str | None = None) -> PaymentProvider:
    """The configured provider (PAYMENTS_PROVIDER, default "test"), built once per app."""
    name = name or current_app.config.get("PAYMENTS_PROVIDER") or "test"
    cache = current_app.extensions.setdefault("commerce.payment_providers", {})
    if name not in cache:
        if name not in _factories:
            raise NotFound(f"No payment provider called {name!r}.")
        cache[name] = _factories[name](current_app.config)
    return cache[name]


def _call_provider(call: Callable[..., ProviderResult], **kwargs: Any) -> ProviderResult | None:
    """Step 2: the provider call itself, with no database transaction open. None when the call
    broke (a timeout, a refused connection): what the provider did is then unknown, so the
    call stays pending until the provider is asked (settle_transaction), never guessed."""
    assert not in_transaction(), "payment provider called inside a database transaction"
    try:
        return call(**kwargs)
    except CommerceError:
        raise
    except Exception:
        log.exception("payment provider call %s failed", getattr(call, "__name__", call))
        return None


def _answered(
    payment_id: int, call: Callable[..., ProviderResult], **kwargs: Any
) -> ProviderResult:
    """The provider's answer to `call` (made with no transaction open); Conflict (in_flight)
    when none came: the payment stays in flight until the recovery task asks again."""
    result = _call_provider(call, **kwargs)
    if result is None:
        raise _unanswered(payment_id)
    return result


def in_flight_timeout() -> timedelta:
    """How long a provider call (or a checkout placement) may be in flight before the process
    making it is presumed gone (PAYMENTS_IN_FLIGHT_TIMEOUT)."""
    timeout = current_app.config.get("PAYMENTS_IN_FLIGHT_TIMEOUT")
    return DEFAULT_IN_FLIGHT_TIMEOUT if timeout is None else timeout


def _unanswered(payment_id: int) -> Conflict:
    return Conflict(
        "The payment provider did not answer. Please wait a moment and try again; nothing "
        "will be charged twice.",
        payment_id=payment_id,
        in_flight=True,
    )


# -- helpers ------------------------------------------------------------------------------------


def _money(amount: Money | int, currency: str | None) -> Money:
    if isinstance(amount, Money):
        if currency and currency.upper() != amount.currency:
            raise ValidationError("The amount's currency does not match.", field="currency")
        money = amount
    else:
        if not currency:
            raise ValidationError("Give the currency of the amount.", field="currency")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValidationError("Enter an amount in minor units.", field="amount")
        money = Money(amount, currency.upper())
    if money.amount <= 0:
        raise ValidationError("Enter an amount above zero.", field="amount")
    return money


def _amount_for(payment: Payment, amount: Money | int) -> int:
    return _money(amount, payment.currency).amount


def _require_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key:
        raise ValidationError("An idempotency key is required.", field="idempotency_key")
    if len(key) > 120:
        raise ValidationError("The idempotency key is too long.", field="idempotency_key")
    return key


def _payment_by_key(key: str) -> Payment | None:
    return db.session.scalar(
        select(Payment)
        .where(Payment.idempotency_key == key)
        .execution_options(populate_existing=True)
    )


def _tx_by_key(key: str) -> PaymentTransaction | None:
    return db.session.scalar(
        select(PaymentTransaction)
        .where(PaymentTransaction.idempotency_key == key)
        .execution_options(populate_existing=True)
    )


def _reload(payment_id: int) -> Payment:
    payment = db.session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def _claim(payment_id: int, *, where: Any, **values: Any) -> bool:
    """One conditional UPDATE of a payment; True when the row matched."""
    stmt = (
        update(Payment)
        .where(Payment.id == payment_id, *where)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).rowcount == 1


def _provider_key(label: str) -> str:
    """The key one provider call is sent with: ours for tracing, plus a nonce. The provider
    answers a repeated key with its first result (a decline included), so every call, and a
    new attempt after a decline, needs a key of its own; it is recorded before the call."""
    return f"{label[:150]}#{secrets.token_hex(8)}"


def _open_tx(
    payment_id: int,
    kind: str,
    amount: int,
    currency: str,
    *,
    key: str | None = None,
    by: Any = None,
    provider_reference: str | None = None,
    label: str | None = None,
) -> PaymentTransaction:
    tx = PaymentTransaction(
        payment_id=payment_id,
        kind=kind,
        status=TX_PENDING,
        amount=amount,
        currency=currency,
        idempotency_key=key,
        request_key=key or "",
        provider_key=_provider_key(key or label or f"{kind}:{payment_id}"),
        provider_reference=provider_reference,
        actor_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    db.session.add(tx)
    db.session.flush()
    return tx


def _close_tx(tx_id: int, result: ProviderResult) -> bool:
    """Record the provider's answer on its pending call, once: True for the one caller that
    did (after a crash the recovery task and a retry may both come with the same answer)."""
    status = {
        SUCCEEDED: TX_SUCCEEDED,
        RESULT_REQUIRES_ACTION: TX_REQUIRES_ACTION,
    }.get(result.status, TX_FAILED)
    values: dict[str, Any] = {
        "status": status,
        "error_code": result.error_code,
        "message": result.message or "",
        "completed_at": utcnow(),
    }
    if result.reference:
        values["provider_reference"] = result.reference
    if status == TX_FAILED:
        values["idempotency_key"] = None  # a failure does not burn the key
    return (
        db.session.execute(
            update(PaymentTransaction)
            .where(PaymentTransaction.id == tx_id, PaymentTransaction.status == TX_PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _failure(result: ProviderResult, payment_id: int) -> PaymentFailed:
    code = result.error_code or "failed"
    return PaymentFailed(
        result.message or "The payment failed.",
        field=NUMBER_FIELD if code in CARD_CODES else None,
        decline_code=code,
        payment_id=payment_id,
    )


def _event(topic: str, payment: Payment, **extra: Any) -> None:
    outbox.enqueue(
        topic,
        {
            "payment_id": payment.id,
            "reference": payment.reference,
            "status": payment.status,
            "currency": payment.currency,
            **extra,
        },
    )


def _fail_payment(payment: Payment, result: ProviderResult) -> None:
    payment.status = FAILED
    payment.error_code = result.error_code or "failed"
    payment.error_message = result.message or ""
    payment.action_token = None
    payment.idempotency_key = None  # released: a retry with the same key is a fresh attempt
    _event("payment.failed", payment, error_code=payment.error_code)


def _authorized(payment: Payment, result: ProviderResult) -> None:
    payment.status = AUTHORIZED
    payment.authorized_amount = payment.amount
    payment.expires_at = result.expires_at
    payment.action_token = None
    payment.error_code = None
    payment.error_message = ""
    _event("payment.authorized", payment, amount=payment.amount)


# -- recording answers (step 3, also used when an answer is recovered) ---------------------------


@service
def _record_authorization(payment_id: int, tx_id: int, result: ProviderResult) -> Payment:
    """An authorize or confirm call answered: the payment is authorized, waits for the
    customer's action, or failed (its key released)."""
    if not _close_tx(tx_id, result):
        return _reload(payment_id)  # recorded by someone else
    payment = _reload(payment_id)
    if payment.status != PENDING:
        return payment
    if result.reference and not payment.provider_reference:
        payment.provider_reference = result.reference
    if result.status == SUCCEEDED:
        _authorized(payment, result)
    elif result.status == RESULT_REQUIRES_ACTION:
        payment.status = REQUIRES_ACTION
        payment.action_token = result.action_token or payment.action_token
    else:
        _fail_payment(payment, result)
    return payment


@service
def _record_capture(
    payment_id: int, tx_id: int, value: int, result: ProviderResult, *, by: Any
) -> Payment:
    if _close_tx(tx_id, result):
        if result.status == SUCCEEDED:
            if _claim(payment_id, where=[Payment.status == CAPTURING], status=CAPTURED):
                payment = _reload(payment_id)
                audit.record(by, "payment.capture", payment, after={"captured_amount": value})
                _event("payment.captured", payment, amount=value)
        else:
            _claim(
                payment_id,
                where=[Payment.status == CAPTURING],
                status=AUTHORIZED,
                captured_amount=0,
            )
    return _reload(payment_id)


def _status_before_void() -> Any:
    """What a payment being voided was: authorized if money was held, else waiting for the
    customer's action (the only two states a void starts from)."""
    return case((Payment.authorized_amount > 0, AUTHORIZED), else_=REQUIRES_ACTION)


@service
def _record_void(payment_id: int, tx_id: int, result: ProviderResult, *, by: Any) -> Payment:
    if _close_tx(tx_id, result):
        if result.status == SUCCEEDED:
            before = _reload(payment_id)
            seen = AUTHORIZED if before.authorized_amount > 0 else REQUIRES_ACTION
            if _claim(
                payment_id,
                where=[Payment.status == VOIDING],
                status=VOIDED,
                action_token=None,
            ):
                payment = _reload(payment_id)
                audit.record(by, "payment.void", payment, before={"status": seen})
                _event("payment.voided", payment)
        else:
            _claim(payment_id, where=[Payment.status == VOIDING], status=_status_before_void())
    return _reload(payment_id)


def _status_after_refunds(refunded: Any) -> Any:
    return case(
        (refunded <= 0, CAPTURED),
        (refunded >= Payment.captured_amount, REFUNDED),
        else_=PARTIALLY_REFUNDED,
    )


@service
def _record_refund(
    payment_id: int, tx_id: int, value: int, result: ProviderResult, *, by: Any
) -> PaymentTransaction:
    if _close_tx(tx_id, result):
        if result.status == SUCCEEDED:
            _claim(payment_id, where=[], status=_status_after_refunds(Payment.refunded_amount))
            payment = _reload(payment_id)
            audit.record(by, "payment.refund", payment, after={"refunded": value})
            _event("payment.refunded", payment, amount=value, transaction_id=tx_id)
        else:  # give the reservation back
            _claim(
                payment_id,
                where=[],
                refunded_amount=Payment.refunded_amount - value,
                status=_status_after_refunds(Payment.refunded_amount - value),
            )
    tx = db.session.get(PaymentTransaction, tx_id, populate_existing=True)
    assert tx is not None
    return tx


# -- authorize and confirm ----------------------------------------------------------------------


def _replay_payment(first: Payment, *, reference: str, money: Money) -> Payment:
    if (first.reference, first.amount, first.currency) != (
        reference,
        money.amount,
        money.currency,
    ):
        raise Conflict(
            "This idempotency key was already used for a different payment.",
            field="idempotency_key",
            payment_id=first.id,
        )
    if first.status == PENDING:
        raise Conflict(
            "This payment is still being processed.",
            field="idempotency_key",
            payment_id=first.id,
            in_flight=True,
        )
    return first


def payment_with_key(key: str) -> Payment | None:
    """The payment an idempotency key stands for, as recorded (nothing asked from the
    provider: see payment_for_key)."""
    return _payment_by_key(key)


def payment_for_key(key: str) -> Payment | None:
    """The payment an idempotency key stands for, asked from the provider first if it was left
    pending (a crash or an outage lost its answer) or waits for the customer's bank (confirmed
    away from our pages?): None when there is none, or when it turned out to have failed (the
    key is free again)."""
    payment = _payment_by_key(key)
    if payment is not None and payment.status in (PENDING, REQUIRES_ACTION):
        settle_payment(payment)
        payment = _payment_by_key(key)
    return payment


@workflow
def authorize_payment(
    *,
    reference: str,
    amount: Money | int,
    currency: str | None = None,
    card: CardDetails | Mapping[str, Any],
    idempotency_key: str,
    provider: str | None = None,
) -> Payment:
    """Hold `amount` on a card for `reference` (a checkout or order).

    Returns the Payment: AUTHORIZED, or REQUIRES_ACTION (send the customer through
    `payment.action_token`, then call confirm_payment_action). Raises ValidationError at the card
    fields, or PaymentFailed (decline_code, payment_id) after recording the failed attempt. A
    repeated key returns the first payment without calling the provider; if that one was left
    pending, the provider is asked what became of it first (Conflict while it may still be on
    its way).
    """
    key = _require_key(idempotency_key)
    money = _money(amount, currency)
    reference = (reference or "").strip()[:120]
    if not reference:
        raise ValidationError("A payment needs a reference.", field="reference")
    first = payment_for_key(key)
    if first is not None:
        return _replay_payment(first, reference=reference, money=money)
    valid = validate_card(card, today=utcnow().date())
    gateway = get_provider(provider)

    # Step 1: record the intent (the unique key is claimed here).
    try:
        with transaction():
            payment = Payment(
                reference=reference,
                amount=money.amount,
                currency=money.currency,
                status=PENDING,
                provider=gateway.name,
                card_brand=valid.brand,
                card_last4=valid.last4,
                card_exp_month=valid.exp_month,
                card_exp_year=valid.exp_year,
                idempotency_key=key,
                request_key=key,
                created_at=utcnow(),
            )
            db.session.add(payment)
            db.session.flush()
            payment_id = payment.id
            tx = _open_tx(payment_id, AUTHORIZE, money.amount, money.currency, label=key)
            tx_id, provider_key = tx.id, tx.provider_key
    except IntegrityError:
        first = _payment_by_key(key)
        if first is None:
            raise
        return _replay_payment(first, reference=reference, money=money)

    # Step 2: the provider call, no transaction open.
    result = _answered(
        payment_id,
        gateway.authorize,
        amount=money.amount,
        currency=money.currency,
        card=valid,
        reference=reference,
        idempotency_key=provider_key,
    )

    # Step 3: record the answer.
    payment = _record_authorization(payment_id, tx_id, result)
    if payment.status == FAILED:
        raise _failure(result, payment_id)
    return payment


@workflow
def confirm_payment_action(payment: Payment, token: str) -> Payment:
    """Complete a REQUIRES_ACTION payment with the token the customer brought back.
    Already authorized: returned as is. A wrong token fails the payment (PaymentFailed)."""
    payment_id = payment.id
    if _reload(payment_id).status == PENDING:
        settle_payment(payment)  # an earlier confirmation whose answer was lost
    with transaction():
        if not _claim(payment_id, where=[Payment.status == REQUIRES_ACTION], status=PENDING):
            current = _reload(payment_id)
            if current.status in (AUTHORIZED, CAPTURING, CAPTURED, PARTIALLY_REFUNDED, REFUNDED):
                return current
            if current.status == PENDING:
                raise _unanswered(payment_id)
            raise InvalidTransition(
                f"A {current.status} payment has nothing to confirm.",
                payment_id=payment_id,
                status=current.status,
            )
        current = _reload(payment_id)
        gateway = get_provider(current.provider)
        provider_reference = current.provider_reference or ""
        tx_id = _open_tx(
            payment_id,
            CONFIRM,
            current.amount,
            current.currency,
            provider_reference=provider_reference,
            label=f"confirm:{current.request_key}",
        ).id

    result = _answered(
        payment_id, gateway.confirm, provider_reference=provider_reference, token=token
    )

    payment = _record_authorization(payment_id, tx_id, result)
    if payment.status == FAILED:
        raise _failure(result, payment_id)
    return payment


# -- the steps one at a time, for a workflow that writes them with its own rows ------------------
#
# Checkout placement records the authorization's intent with its claim of the checkout, its
# answer with the order, and the capture's intent with it too, so each step costs no commit
# of its own. The rules are the same as above: step 1 commits before the call (with the
# caller's rows), no transaction is open during the call, and step 3 records the answer.


@dataclass(frozen=True)
class ProviderCall:
    """A provider call recorded before it is sent, as plain values that outlive the
    transaction recording it: what sending it and recording its answer need."""

    payment_id: int
    tx_id: int
    provider_key: str
    provider: str
    reference: str
    amount: int
    currency: str
    provider_reference: str = ""


def open_authorization(
    *,
    reference: str,
    money: Money,
    card: ValidCard,
    idempotency_key: str,
    provider: str | None = None,
) -> tuple[Payment, ProviderCall]:
    """Step 1 of an authorization in the caller's transaction: the pending payment and its
    call. The idempotency key is claimed here: a duplicate raises IntegrityError at the
    flush, and the caller rolls back and looks the key up (payment_for_key)."""
    key = _require_key(idempotency_key)
    reference = (reference or "").strip()[:120]
    gateway = get_provider(provider)
    payment = Payment(
        reference=reference,
        amount=money.amount,
        currency=money.currency,
        status=PENDING,
        provider=gateway.name,
        card_brand=card.brand,
        card_last4=card.last4,
        card_exp_month=card.exp_month,
        card_exp_year=card.exp_year,
        idempotency_key=key,
        request_key=key,
        authorized_amount=0,
        captured_amount=0,
        refunded_amount=0,
        created_at=utcnow(),
    )
    db.session.add(payment)
    db.session.flush()
    tx = _open_tx(payment.id, AUTHORIZE, money.amount, money.currency, label=key)
    call = ProviderCall(
        payment.id, tx.id, tx.provider_key, gateway.name, reference, money.amount, money.currency
    )
    return payment, call


def send_authorization(call: ProviderCall, card: ValidCard) -> ProviderResult | None:
    """Step 2 (no transaction open): None when the call broke and its outcome is unknown."""
    return _call_provider(
        get_provider(call.provider).authorize,
        amount=call.amount,
        currency=call.currency,
        card=card,
        reference=call.reference,
        idempotency_key=call.provider_key,
    )


def record_authorization_answer(
    payment: Payment, call: ProviderCall, result: ProviderResult
) -> str:
    """Step 3 in the caller's transaction: the payment authorized, waiting for the customer's
    action, or failed (its key released); returns its status. `payment` (this session's copy,
    still loaded) is brought up to date without reading it again. Another process that
    recorded the answer first (a recovery) wins: the payment is then read as it left it."""
    if not _close_tx(call.tx_id, result):
        return _reload(call.payment_id).status
    values: dict[str, Any] = {"action_token": None, "error_code": None, "error_message": ""}
    if result.reference:
        values["provider_reference"] = payment.provider_reference or result.reference
    if result.status == SUCCEEDED:
        values.update(
            status=AUTHORIZED, authorized_amount=call.amount, expires_at=result.expires_at
        )
    elif result.status == RESULT_REQUIRES_ACTION:
        values.update(status=REQUIRES_ACTION, action_token=result.action_token)
    else:
        values.update(
            status=FAILED,
            error_code=result.error_code or "failed",
            error_message=result.message or "",
            idempotency_key=None,  # released: a retry with the same key is a fresh attempt
        )
    if not _claim(call.payment_id, where=[Payment.status == PENDING], **values):
        return _reload(call.payment_id).status
    values["updated_at"] = utcnow()
    for name, value in values.items():
        set_committed_value(payment, name, value)
    if payment.status == AUTHORIZED:
        _event("payment.authorized", payment, amount=payment.amount)
    elif payment.status == FAILED:
        _event("payment.failed", payment, error_code=payment.error_code)
    return payment.status


def open_capture(
    payment: Payment, *, amount: int, idempotency_key: str, by: Any = None
) -> ProviderCall | None:
    """Step 1 of a capture in the caller's transaction: the authorized payment claimed for
    it (CAPTURING) and its call recorded under the key. None when it cannot be claimed (not
    authorized, expired, less authorized): capture_payment says why."""
    key = _require_key(idempotency_key)
    now = utcnow()
    if not _claim(
        payment.id,
        where=[
            Payment.status == AUTHORIZED,
            Payment.authorized_amount >= amount,
            (Payment.expires_at.is_(None)) | (Payment.expires_at > now),
        ],
        status=CAPTURING,
        captured_amount=amount,
    ):
        return None
    set_committed_value(payment, "status", CAPTURING)
    set_committed_value(payment, "captured_amount", amount)
    tx = _open_tx(payment.id, CAPTURE, amount, payment.currency, key=key, by=by)
    reference = payment.provider_reference or ""
    return ProviderCall(
        payment.id,
        tx.id,
        tx.provider_key,
        payment.provider,
        payment.reference,
        amount,
        payment.currency,
        reference,
    )


def send_capture(call: ProviderCall) -> ProviderResult | None:
    """Step 2 of a capture (no transaction open); None: unknown, the recovery task asks."""
    return _call_provider(
        get_provider(call.provider).capture,
        provider_reference=call.provider_reference,
        amount=call.amount,
        currency=call.currency,
        idempotency_key=call.provider_key,
    )


def record_capture_answer(
    payment: Payment, call: ProviderCall, result: ProviderResult, *, by: Any = None
) -> bool:
    """Step 3 of a capture in the caller's transaction: True when the money was taken (and
    recorded here). A refused capture gives the payment back to AUTHORIZED."""
    if not _close_tx(call.tx_id, result):
        return _reload(call.payment_id).status == CAPTURED
    if result.status != SUCCEEDED:
        if _claim(call.payment_id, where=[Payment.status == CAPTURING], status=AUTHORIZED,
                  captured_amount=0):  # fmt: skip
            set_committed_value(payment, "status", AUTHORIZED)
            set_committed_value(payment, "captured_amount", 0)
        return False
    if not _claim(call.payment_id, where=[Payment.status == CAPTURING], status=CAPTURED):
        return _reload(call.payment_id).status == CAPTURED
    set_committed_value(payment, "status", CAPTURED)
    audit.record(by, "payment.capture", payment, after={"captured_amount": call.amount})
    _event("payment.captured", payment, amount=call.amount)
    return True


def provider_failure(result: ProviderResult, payment_id: int) -> PaymentFailed:
    """The error a failed call is reported with (card fields get theirs)."""
    return _failure(result, payment_id)


def unanswered(payment_id: int) -> Conflict:
    """The error for a call whose answer never came (the recovery task learns it later)."""
    return _unanswered(payment_id)


# -- capture and void ---------------------------------------------------------------------------


def _replay_tx(done: PaymentTransaction, *, kind: str, payment_id: int, amount: int | None) -> None:
    if (
        done.kind != kind
        or done.payment_id != payment_id
        or (amount is not None and done.amount != amount)
    ):
        raise Conflict(
            "This idempotency key was already used for another operation.",
            field="idempotency_key",
        )
    if done.status == TX_PENDING:
        raise Conflict(
            "This operation is still being processed.", field="idempotency_key", in_flight=True
        )


@workflow
def capture_payment(
    payment: Payment,
    *,
    amount: Money | int | None = None,
    idempotency_key: str,
    by: Any = None,
) -> Payment:
    """Capture an authorization: all of it, or `amount` of it (a partial capture; the rest is
    released). One capture per payment. Raises AuthorizationExpired past `expires_at` (and marks
    the payment EXPIRED), ValidationError for an amount above the authorization,
    InvalidTransition for a payment that is not AUTHORIZED, Conflict (in_flight) while the
    provider's answer is unknown (the recovery task asks it later)."""
    key = _require_key(idempotency_key)
    payment_id = payment.id
    done = _tx_by_key(key)
    if done is not None:
        _replay_tx(done, kind=CAPTURE, payment_id=payment_id, amount=None)
        return _reload(payment_id)
    current = _reload(payment_id)
    value = current.authorized_amount if amount is None else _amount_for(current, amount)
    now = utcnow()
    expired = False
    try:
        with transaction():
            claimed = _claim(
                payment_id,
                where=[
                    Payment.status == AUTHORIZED,
                    Payment.authorized_amount >= value,
                    (Payment.expires_at.is_(None)) | (Payment.expires_at > now),
                ],
                status=CAPTURING,
                captured_amount=value,
            )
            if not claimed:
                current = _reload(payment_id)
                if current.status != AUTHORIZED:
                    raise InvalidTransition(
                        f"A {current.status} payment cannot be captured.",
                        payment_id=payment_id,
                        status=current.status,
                    )
                if value > current.authorized_amount or value <= 0:
                    raise ValidationError(
                        f"At most {Money(current.authorized_amount, current.currency)} "
                        "can be captured.",
                        field="amount",
                        authorized=current.authorized_amount,
                        requested=value,
                    )
                _claim(payment_id, where=[Payment.status == AUTHORIZED], status=EXPIRED)
                _event("payment.expired", _reload(payment_id))
                expired = True
            else:
                current = _reload(payment_id)
                gateway = get_provider(current.provider)
                provider_reference = current.provider_reference or ""
                currency = current.currency
                tx = _open_tx(payment_id, CAPTURE, value, currency, key=key, by=by)
                tx_id, provider_key = tx.id, tx.provider_key
    except IntegrityError:
        done = _tx_by_key(key)
        if done is None:
            raise
        _replay_tx(done, kind=CAPTURE, payment_id=payment_id, amount=None)
        return _reload(payment_id)
    if expired:
        raise AuthorizationExpired(
            "The authorization has expired; ask the customer to pay again.",
            payment_id=payment_id,
            expires_at=current.expires_at.isoformat() if current.expires_at else None,
        )

    result = _answered(
        payment_id,
        gateway.capture,
        provider_reference=provider_reference,
        amount=value,
        currency=currency,
        idempotency_key=provider_key,
    )

    payment = _record_capture(payment_id, tx_id, value, result, by=by)
    if result.status != SUCCEEDED:
        raise _failure(result, payment_id)
    return payment


@workflow
def void_payment(
    payment: Payment, *, by: Any = None, guard: Callable[[], bool] | None = None
) -> Payment:
    """Release an authorization (AUTHORIZED or REQUIRES_ACTION). Voiding a voided payment
    returns it unchanged, without calling the provider.

    `guard` runs inside the transaction that claims the payment for the void, before the
    claim; False refuses the void (Conflict). The checkout passes its fencing check, so a
    payment is never voided while another process may be turning it into an order."""
    payment_id = payment.id
    with transaction():
        current = _reload(payment_id)
        seen = current.status
        if seen == VOIDED:
            return current
        if guard is not None and not guard():
            raise Conflict("This payment is in use elsewhere.", payment_id=payment_id)
        if seen not in (AUTHORIZED, REQUIRES_ACTION) or not _claim(
            payment_id, where=[Payment.status == seen], status=VOIDING
        ):
            raise InvalidTransition(
                f"A {seen} payment cannot be voided.", payment_id=payment_id, status=seen
            )
        gateway = get_provider(current.provider)
        provider_reference = current.provider_reference or ""
        tx = _open_tx(
            payment_id,
            VOID,
            0,
            current.currency,
            by=by,
            provider_reference=provider_reference,
            label=f"void:{current.request_key}",
        )
        tx_id, provider_key = tx.id, tx.provider_key

    result = _answered(
        payment_id,
        gateway.void,
        provider_reference=provider_reference,
        idempotency_key=provider_key,
    )

    payment = _record_void(payment_id, tx_id, result, by=by)
    if result.status != SUCCEEDED:
        raise _failure(result, payment_id)
    return payment


# -- refunds ------------------------------------------------------------------------------------


@workflow
def refund_payment(
    payment: Payment,
    *,
    amount: Money | int,
    idempotency_key: str,
    by: Any = None,
) -> PaymentTransaction:
    """Refund part or all of a capture; several refunds may follow each other, never more in
    total than was captured (RefundExceedsCapture, with `refundable`). Returns the refund's
    PaymentTransaction; a repeated key returns the first one without calling the provider.
    Conflict (in_flight) while the provider's answer is unknown: the amount stays reserved
    until the recovery task learns the answer."""
    key = _require_key(idempotency_key)
    payment_id = payment.id
    current = _reload(payment_id)
    value = _amount_for(current, amount)
    done = _tx_by_key(key)
    if done is not None:
        _replay_tx(done, kind=REFUND, payment_id=payment_id, amount=value)
        return done
    try:
        with transaction():
            tx = _open_tx(payment_id, REFUND, value, current.currency, key=key, by=by)
            tx_id, provider_key = tx.id, tx.provider_key
            # Reserve the amount: this row count is the guard against over-refunding.
            if not _claim(
                payment_id,
                where=[
                    Payment.status.in_(REFUNDABLE),
                    Payment.captured_amount - Payment.refunded_amount >= value,
                ],
                refunded_amount=Payment.refunded_amount + value,
            ):
                current = _reload(payment_id)
                if current.status not in REFUNDABLE:
                    raise InvalidTransition(
                        f"A {current.status} payment cannot be refunded.",
                        payment_id=payment_id,
                        status=current.status,
                    )
                refundable = current.captured_amount - current.refunded_amount
                raise RefundExceedsCapture(
                    f"At most {Money(refundable, current.currency)} can be refunded.",
                    field="amount",
                    payment_id=payment_id,
                    refundable=refundable,
                    requested=value,
                )
            current = _reload(payment_id)
            gateway = get_provider(current.provider)
            provider_reference = current.provider_reference or ""
            currency = current.currency
    except IntegrityError:
        done = _tx_by_key(key)
        if done is None:
            raise
        _replay_tx(done, kind=REFUND, payment_id=payment_id, amount=value)
        return done

    result = _answered(
        payment_id,
        gateway.refund,
        provider_reference=provider_reference,
        amount=value,
        currency=currency,
        idempotency_key=provider_key,
    )

    tx = _record_refund(payment_id, tx_id, value, result, by=by)
    if result.status != SUCCEEDED:
        raise _failure(result, payment_id)
    return tx


# -- calls whose answer was lost ------------------------------------------------------------------

SETTLED, IN_FLIGHT, ALREADY_SETTLED = "settled", "in_flight", "already_settled"


def _sent_with(tx: PaymentTransaction, payment: Payment) -> str:
    """The key a call went to the provider with (rows from before provider keys: ours)."""
    if tx.provider_key:
        return tx.provider_key
    return payment.request_key if tx.kind == AUTHORIZE else tx.request_key


def _ask(gateway: PaymentProvider, **kwargs: Any) -> ProviderResult | None:
    """A lookup; None when the provider could not be asked (try again later)."""
    try:
        return gateway.lookup(**kwargs)
    except Exception:
        log.exception("payment provider lookup failed")
        return None


@workflow
def settle_transaction(tx_id: int, *, now: datetime | None = None, by: Any = None) -> str:
    """Learn from the provider what became of a call whose answer was never recorded (its
    process died, or our database was unreachable when the answer came), and record it: the
    provider is the source of truth. Returns SETTLED, ALREADY_SETTLED, or IN_FLIGHT.

    A call the provider never received may still be on its way while it is younger than
    PAYMENTS_IN_FLIGHT_TIMEOUT (IN_FLIGHT: ask again later). Older, it is over: an
    authorization fails (the card is not stored, it cannot be sent again; the shopper's next
    attempt is a fresh one) and a confirmation leaves the payment waiting for the customer; a
    capture, void or refund is sent again with the same provider key, which the provider
    carries out at most once. Safe to run by several processes at once: the first answer
    recorded wins, the others change nothing."""
    now = now or utcnow()
    tx = db.session.get(PaymentTransaction, tx_id, populate_existing=True)
    if tx is None or tx.status != TX_PENDING:
        return ALREADY_SETTLED
    payment = _reload(tx.payment_id)
    gateway = get_provider(payment.provider)
    kind, value, currency = tx.kind, tx.amount, tx.currency
    payment_id, sent_with = payment.id, _sent_with(tx, payment)
    reference = payment.provider_reference or tx.provider_reference or ""
    old_enough = tx.created_at <= now - in_flight_timeout()
    if kind == AUTHORIZE:
        result = _ask(gateway, kind=AUTHORIZATION, idempotency_key=sent_with)
    elif kind == CONFIRM:
        result = _ask(gateway, kind=AUTHORIZATION, provider_reference=reference)
        if result is not None and result.status == RESULT_REQUIRES_ACTION:
            result = ProviderResult(NOT_FOUND)  # the confirmation has not arrived (yet)
    else:
        result = _ask(gateway, kind=kind, idempotency_key=sent_with, provider_reference=reference)
    if result is None:
        return IN_FLIGHT
    if result.status == NOT_FOUND:
        if not old_enough:
            return IN_FLIGHT
        if kind == AUTHORIZE:
            result = ProviderResult(
                RESULT_FAILED,
                error_code=NOT_RECEIVED,
                message="The payment provider never received this payment.",
            )
        elif kind == CONFIRM:
            current = _ask(gateway, kind=AUTHORIZATION, provider_reference=reference)
            if current is None:
                return IN_FLIGHT
            result = (
                current
                if current.status != NOT_FOUND
                else ProviderResult(
                    RESULT_FAILED, error_code=NOT_RECEIVED, message="Unknown to the provider."
                )
            )
        elif kind == CAPTURE:
            result = _call_provider(
                gateway.capture,
                provider_reference=reference,
                amount=value,
                currency=currency,
                idempotency_key=sent_with,
            )
        elif kind == VOID:
            result = _call_provider(
                gateway.void, provider_reference=reference, idempotency_key=sent_with
            )
        else:
            result = _call_provider(
                gateway.refund,
                provider_reference=reference,
                amount=value,
                currency=currency,
                idempotency_key=sent_with,
            )
        if result is None:
            return IN_FLIGHT
    before = payment.status
    if kind in (AUTHORIZE, CONFIRM):
        _record_authorization(payment_id, tx_id, result)
    elif kind == CAPTURE:
        _record_capture(payment_id, tx_id, value, result, by=by)
    elif kind == VOID:
        _record_void(payment_id, tx_id, result, by=by)
    else:
        _record_refund(payment_id, tx_id, value, result, by=by)
    with transaction():
        tx = db.session.get(PaymentTransaction, tx_id, populate_existing=True)
        payment = _reload(payment_id)
        audit.record(
            by,
            "payment.recovered",
            payment,
            before={"status": before, "call": kind},
            after={
                "status": payment.status,
                "call": tx.status if tx is not None else None,
                "provider_said": result.status,
                "error_code": result.error_code,
            },
        )
    return SETTLED


@workflow
def settle_payment(payment: Payment, *, now: datetime | None = None, by: Any = None) -> Payment:
    """Settle every call of this payment still pending (see settle_transaction), ask whether a
    payment waiting for the customer's bank was confirmed (or refused) away from our pages,
    and return the payment as it stands now."""
    if payment.status == REQUIRES_ACTION:
        return _refresh_waiting(payment, by=by)
    pending = list(
        db.session.scalars(
            select(PaymentTransaction.id)
            .where(
                PaymentTransaction.payment_id == payment.id,
                PaymentTransaction.status == TX_PENDING,
            )
            .order_by(PaymentTransaction.id)
        )
    )
    for tx_id in pending:
        settle_transaction(tx_id, now=now, by=by)
    return _reload(payment.id)


def _refresh_waiting(payment: Payment, *, by: Any) -> Payment:
    """The customer may have completed (or failed) the bank's challenge without coming back
    to us, and the provider's notice may have been lost: ask it."""
    payment_id, reference = payment.id, payment.provider_reference or ""
    if not reference:
        return payment
    result = _ask(get_provider(payment.provider), kind=AUTHORIZATION, provider_reference=reference)
    if result is None or result.status not in (SUCCEEDED, RESULT_FAILED):
        return _reload(payment_id)
    with transaction():
        if not _claim(payment_id, where=[Payment.status == REQUIRES_ACTION], status=PENDING):
            return _reload(payment_id)
        payment = _reload(payment_id)
        if result.status == SUCCEEDED:
            _authorized(payment, result)
        else:
            _fail_payment(payment, result)
        audit.record(
            by,
            "payment.recovered",
            payment,
            before={"status": REQUIRES_ACTION},
            after={"status": payment.status, "provider_said": result.status},
        )
    return payment


def pending_transactions(*, older_than: datetime, limit: int = 500) -> list[int]:
    """Provider calls still waiting for their answer that started before `older_than`."""
    return list(
        db.session.scalars(
            select(PaymentTransaction.id)
            .where(
                PaymentTransaction.status == TX_PENDING,
                PaymentTransaction.created_at < older_than,
            )
            .order_by(PaymentTransaction.id)
            .limit(limit)
        )
    )


# -- expiry -------------------------------------------------------------------------------------


@service
def expire_authorizations(*, now: Any = None) -> int:
    """Mark authorizations past `expires_at` EXPIRED (for a periodic task); returns how many."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(Payment.id).where(Payment.status == AUTHORIZED, Payment.expires_at <= now)
        )
    )
    count = 0
    for payment_id in ids:
        if _claim(
            payment_id,
            where=[Payment.status == AUTHORIZED, Payment.expires_at <= now],
            status=EXPIRED,
        ):
            _event("payment.expired", _reload(payment_id))
            count += 1
    return count


# -- webhooks -----------------------------------------------------------------------------------

APPLIED, IGNORED, DUPLICATE = "applied", "ignored", "duplicate"


def _apply(event: WebhookEvent, payment: Payment | None, gateway: PaymentProvider) -> str:
    if payment is None:
        return IGNORED
    if event.type == "payment.authorized":  # a challenge completed away from our pages
        if not _claim(payment.id, where=[Payment.status == REQUIRES_ACTION], status=PENDING):
            return IGNORED
        payment = _reload(payment.id)
        ttl = getattr(gateway, "authorization_ttl", DEFAULT_AUTHORIZATION_TTL)
        _authorized(payment, ProviderResult(SUCCEEDED, expires_at=utcnow() + ttl))
        return APPLIED
    if event.type == "payment.failed":
        if payment.status not in (PENDING, REQUIRES_ACTION):
            return IGNORED
        code = str(event.data.get("error_code") or "failed")[:40]
        message = str(event.data.get("message") or "")
        _fail_payment(payment, ProviderResult(RESULT_FAILED, error_code=code, message=message))
        return APPLIED
    if event.type == "authorization.expired":
        if not _claim(payment.id, where=[Payment.status == AUTHORIZED], status=EXPIRED):
            return IGNORED
        _event("payment.expired", _reload(payment.id))
        return APPLIED
    return IGNORED


@workflow
def apply_webhook_event(event: WebhookEvent, *, provider: str | None = None) -> str:
    """Apply a verified event once: APPLIED, IGNORED (unknown type, unknown payment, or a state
    it no longer applies to) or DUPLICATE (this event id was seen before)."""
    gateway = get_provider(provider)
    seen = select(PaymentEvent.id).where(
        PaymentEvent.provider == gateway.name, PaymentEvent.event_id == event.id
    )
    if db.session.scalar(seen) is not None:
        return DUPLICATE
    reference = str(event.data.get("payment_reference") or "")
    try:
        with transaction():
            payment = (
                db.session.scalar(
                    select(Payment)
                    .where(
                        Payment.provider == gateway.name, Payment.provider_reference == reference
                    )
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
                if reference
                else None
            )
            # Claim the event id first: a concurrent delivery of the same event fails here.
            record = PaymentEvent(
                provider=gateway.name,
                event_id=event.id[:120],
                type=event.type[:60],
                payment_id=payment.id if payment else None,
                outcome=IGNORED,
                payload={"type": event.type, "created": event.created, "data": event.data},
                received_at=utcnow(),
            )
            db.session.add(record)
            db.session.flush()
            record.outcome = _apply(event, payment, gateway)
            return record.outcome
    except IntegrityError:
        if db.session.scalar(seen) is not None:
            return DUPLICATE
        raise


@workflow
def receive_webhook(headers: Mapping[str, str], body: bytes, *, provider: str | None = None) -> str:
    """What the webhook endpoint calls: verify (WebhookRejected → answer 400), then apply."""
    event = get_provider(provider).verify_webhook(headers, body)
    return apply_webhook_event(event, provider=provider)
