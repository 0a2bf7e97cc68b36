"""Domain errors. Each carries structured details the web faces turn into a message and a 4xx."""

from __future__ import annotations

from typing import Any

ErrorPath = str | tuple[str | int, ...]
"""What a message is about: an input's name ("email"), or a path into nested input, such as
("conditions", 0, "amount") for a promotion's first condition row. The web faces turn a path
into their own field names; the domain never spells those."""


class CommerceError(Exception):
    """Base of every business-rule failure; `field` names the input that caused it, if any
    (its name, or its path: see ErrorPath)."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, field: ErrorPath | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field, **self.details}


class ValidationError(CommerceError):
    """One or more inputs are invalid; `errors` maps each input's name or path (ErrorPath) to
    its messages."""

    status = 422
    code = "invalid"

    def __init__(
        self,
        message: str = "Please correct the highlighted fields.",
        *,
        field: ErrorPath | None = None,
        errors: dict[ErrorPath, list[str]] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, field=field, **details)
        self.errors: dict[ErrorPath, list[str]] = dict(errors or {})
        if field and field not in self.errors:
            self.errors[field] = [message]


class NotFound(CommerceError):
    status = 404
    code = "not_found"


class PermissionDenied(CommerceError):
    status = 403
    code = "forbidden"


class Conflict(CommerceError):
    status = 409
    code = "conflict"


class StaleVersion(CommerceError):
    """Optimistic concurrency: the thing changed since the caller read the version it names."""

    status = 412
    code = "precondition_failed"


class DuplicateValue(ValidationError):
    code = "duplicate"


class InvalidTransition(CommerceError):
    status = 409
    code = "invalid_transition"


class OutOfStock(CommerceError):
    status = 409
    code = "out_of_stock"


class PaymentFailed(CommerceError):
    """The provider declined or errored; `decline_code` says why, `payment_id` which record."""

    status = 402
    code = "payment_failed"


class AuthorizationExpired(CommerceError):
    status = 409
    code = "authorization_expired"


class RefundExceedsCapture(CommerceError):
    status = 409
    code = "refund_exceeds_capture"


class WebhookRejected(CommerceError):
    """A webhook whose signature, timestamp or body cannot be trusted."""

    status = 400
    code = "webhook_rejected"


class DatabaseBusy(CommerceError):
    """The embedded database (SQLite: one writer at a time) stayed busy with another change,
    such as a bulk edit or an import, for longer than a save waits; nothing was written."""

    status = 503
    code = "database_busy"


class TooManyAttempts(CommerceError):
    """An attempt budget (coupon codes, declined payments, failed sign-ins of an account) is
    spent for now; `retry_after` says in how many seconds to try again."""

    status = 429
    code = "too_many_attempts"
