"""Payment fixtures: cards by outcome, a spy counting provider calls, and paid-up payments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from commerce.db import in_transaction, utcnow
from commerce.payments import sandbox_gateway as tg
from commerce.payments.models import Payment
from commerce.payments.provider import CardDetails
from commerce.payments.services import authorize_payment, capture_payment

NEXT_YEAR = utcnow().year + 1


def card(number: str = tg.SUCCESS_CARD, **kw: Any) -> CardDetails:
    values = {"exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123", **kw}
    return CardDetails(number=number, **values)


@dataclass
class ProviderSpy:
    """Every provider call, by method name, and whether a database transaction was open."""

    calls: list[str] = field(default_factory=list)
    inside_transaction: list[str] = field(default_factory=list)

    def count(self, name: str) -> int:
        return self.calls.count(name)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderSpy]:
    record = ProviderSpy()
    for name in ("authorize", "confirm", "capture", "void", "refund"):
        original = getattr(tg.SandboxGateway, name)

        def wrapper(self: Any, *args: Any, _name: str = name, _fn: Any = original, **kw: Any):
            record.calls.append(_name)
            if in_transaction():
                record.inside_transaction.append(_name)
            return _fn(self, *args, **kw)

        monkeypatch.setattr(tg.SandboxGateway, name, wrapper)
    yield record


_keys = iter(range(1, 10**9))


def new_key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


@pytest.fixture
def authorized(app) -> Callable[..., Payment]:
    def make(amount: int = 10000, currency: str = "USD", **kw: Any) -> Payment:
        return authorize_payment(
            reference=kw.pop("reference", f"checkout-{next(_keys)}"),
            amount=amount,
            currency=currency,
            card=kw.pop("card", card()),
            idempotency_key=kw.pop("idempotency_key", new_key("auth")),
            **kw,
        )

    return make


@pytest.fixture
def captured(authorized) -> Callable[..., Payment]:
    def make(amount: int = 10000, **kw: Any) -> Payment:
        payment = authorized(amount, **kw)
        return capture_payment(payment, idempotency_key=new_key("cap"))

    return make
