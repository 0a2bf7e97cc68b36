"""The PaymentProvider interface, the values that cross it, and card validation.

A provider talks to a payment network; it knows nothing of our tables. Services call it
outside any database transaction and record what it answered (see services.py).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from commerce.errors import ValidationError

# Outcomes of a provider call.
SUCCEEDED = "succeeded"
FAILED = "failed"
REQUIRES_ACTION = "requires_action"
# The answer of a lookup for an operation the provider never received.
NOT_FOUND = "not_found"

# What a lookup asks about (the PaymentTransaction kinds).
AUTHORIZATION, CAPTURE, VOID, REFUND = "authorize", "capture", "void", "refund"

# Field names used for card errors (the checkout form's field names).
NUMBER_FIELD, EXP_MONTH_FIELD, EXP_YEAR_FIELD, CVC_FIELD = (
    "card_number",
    "card_exp_month",
    "card_exp_year",
    "card_cvc",
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(digits[:2] or 0) <= 55 or 2221 <= int(digits[:4] or 0) <= 2720:
        return "mastercard"
    if digits.startswith(("6011", "65")):
        return "discover"
    return "card"


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What the customer typed. Lives only in memory for the provider call; never stored,
    never logged (repr masks the number and drops the CVC)."""

    number: str
    exp_month: int | str
    exp_year: int | str
    cvc: str
    holder: str = ""

    @classmethod
    def coerce(cls, card: CardDetails | Mapping[str, Any]) -> CardDetails:
        if isinstance(card, CardDetails):
            return card
        return cls(
            number=str(card.get("number", "")),
            exp_month=card.get("exp_month", ""),
            exp_year=card.get("exp_year", ""),
            cvc=str(card.get("cvc", "")),
            holder=str(card.get("holder", "")),
        )

    @property
    def digits(self) -> str:
        return "".join(ch for ch in str(self.number) if ch.isdigit())

    @property
    def last4(self) -> str:
        return self.digits[-4:]

    @property
    def brand(self) -> str:
        return card_brand(self.digits) if self.digits else "card"

    def __repr__(self) -> str:
        return f"CardDetails({self.brand} ****{self.last4}, {self.exp_month}/{self.exp_year})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class ValidCard:
    """A card that passed validation: normalised values (still holds the number in memory)."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str
    brand: str
    last4: str

    def __repr__(self) -> str:
        return f"ValidCard({self.brand} ****{self.last4}, {self.exp_month}/{self.exp_year})"

    __str__ = __repr__


def _int(value: Any) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def validate_card(card: CardDetails | Mapping[str, Any], *, today: date) -> ValidCard:
    """Check a card before any record is written; every bad field is reported at once."""
    card = CardDetails.coerce(card)
    errors: dict[str, list[str]] = {}
    raw = str(card.number).replace(" ", "").replace("-", "")
    digits = card.digits
    if not raw.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        errors[NUMBER_FIELD] = ["That card number is not valid."]
    month, year = _int(card.exp_month), _int(card.exp_year)
    if year is not None and year < 100:
        year += 2000
    if month is None or not 1 <= month <= 12:
        errors[EXP_MONTH_FIELD] = ["Enter the expiry month (1 to 12)."]
    if year is None or not 2000 <= year <= 2100:
        errors[EXP_YEAR_FIELD] = ["Enter the expiry year."]
    elif year < today.year:
        errors[EXP_YEAR_FIELD] = ["This card has expired."]
    elif month is not None and 1 <= month <= 12 and (year, month) < (today.year, today.month):
        errors[EXP_MONTH_FIELD] = ["This card has expired."]
    cvc = str(card.cvc).strip()
    if not cvc.isdigit() or not 3 <= len(cvc) <= 4:
        errors[CVC_FIELD] = ["Enter the 3 or 4 digit security code."]
    if errors:
        first = next(iter(errors))
        raise ValidationError(errors[first][0], field=first, errors=errors)
    assert month is not None and year is not None
    return ValidCard(digits, month, year, cvc, card_brand(digits), digits[-4:])


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """A provider's answer. `status` is SUCCEEDED, FAILED or REQUIRES_ACTION (NOT_FOUND too, for
    a lookup of an operation the provider never received); a failure carries a machine
    `error_code` (card_declined, insufficient_funds, processing_error, ...)."""

    status: str
    amount: int = 0
    reference: str | None = None
    error_code: str | None = None
    message: str = ""
    action_token: str | None = None
    expires_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified webhook: its id (for idempotency), type and data."""

    id: str
    type: str
    created: int
    data: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(abc.ABC):
    """What every payment provider offers. Implementations must not touch the database.

    Operations are idempotent per `idempotency_key`, as real providers are: the same key
    returns the first answer without doing anything twice (a declined key stays declined, so a
    new attempt needs a new key). `lookup` asks what the provider did for an operation whose
    answer we may have lost (a crash or an outage between the call and our record of it): the
    provider, not our database, is the source of truth for money.
    """

    name: str

    @abc.abstractmethod
    def authorize(
        self,
        *,
        amount: int,
        currency: str,
        card: ValidCard,
        reference: str,
        idempotency_key: str,
    ) -> ProviderResult:
        """Hold funds. SUCCEEDED (with expires_at), FAILED, or REQUIRES_ACTION + action_token."""

    @abc.abstractmethod
    def confirm(self, *, provider_reference: str, token: str) -> ProviderResult:
        """Complete a REQUIRES_ACTION authorization with the token the customer returned."""

    @abc.abstractmethod
    def capture(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        """Take `amount` (at most the authorized amount) of an authorization."""

    @abc.abstractmethod
    def void(self, *, provider_reference: str, idempotency_key: str = "") -> ProviderResult:
        """Release an uncaptured authorization (voiding a voided one succeeds again)."""

    @abc.abstractmethod
    def refund(
        self, *, provider_reference: str, amount: int, currency: str, idempotency_key: str
    ) -> ProviderResult:
        """Return `amount` of a capture to the card."""

    @abc.abstractmethod
    def lookup(
        self, *, kind: str, idempotency_key: str = "", provider_reference: str = ""
    ) -> ProviderResult:
        """What the provider did for an operation of `kind` (AUTHORIZATION, CAPTURE, VOID,
        REFUND), found by the idempotency key it was sent with or, for an authorization or its
        void, by the authorization's reference. An authorization answers its current outcome
        (SUCCEEDED, REQUIRES_ACTION with the action token, FAILED); a capture or refund its
        result; a void SUCCEEDED once the authorization is released. NOT_FOUND: never seen."""

    @abc.abstractmethod
    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> WebhookEvent:
        """Check the signature and freshness of a webhook and parse it; raises WebhookRejected."""
