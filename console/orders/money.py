"""Money going back on the order page: the refund dialog, the approval queue's actions, returns.

The refund dialog: choose (lines and quantities, restock per line, shipping, a free amount, an
optional reason) with a running total the server quotes as the agent types (amount, tax inside,
whether it will wait for approval), then either "Refund now" straight from there or the review
step (the quote line by line) first, and the answer (the provider's, or "waiting for
approval"). Both forms carry an idempotency key, so a double-clicked confirm refunds once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.errors import CommerceError, ValidationError
from commerce.inventory.services import active_locations
from commerce.money import format_amount_plain, parse_amount
from commerce.orders.models import TO_ORIGINAL, TO_STORE_CREDIT, Order, Refund, Return
from commerce.orders.refunds import (
    approve_refund,
    get_refund,
    issue_refund,
    paid_outside_shop,
    quote_refund,
    reject_refund,
    retry_refund,
)
from commerce.orders.returns import (
    cancel_return,
    get_return,
    open_return,
    receive_return,
    returnable_quantities,
)
from commerce.orders.services import get_order
from console.web import done
from web.forms import error_messages
from web.pages import render


def _order(order_id: int) -> Order:
    return get_order(order_id)


def _detail(order: Order) -> str:
    return url_for("console.order_detail", order_id=order.id)


def _ints(prefix: str) -> dict[int, Any]:
    return {
        int(name[len(prefix) :]): value
        for name, value in request.form.items()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    }


class RefundRequest:
    """The dialog's fields parsed (bad numbers become messages at their field)."""

    def __init__(self, order: Order) -> None:
        self.errors: dict[str, list[str]] = {}
        self.lines: dict[int, int] = {}
        for line_id, raw in _ints("qty-").items():
            text = str(raw).strip() or "0"
            if not text.isdigit():
                self.errors[f"line-{line_id}"] = ["Enter a whole number of units."]
            elif int(text):
                self.lines[line_id] = int(text)
        # A line's "Restock" box sends "default": the one location chosen below the lines (the
        # first active location unless changed); a location id still names its own.
        chosen = request.form.get("restock_location", "").strip()
        self.restock_location = int(chosen) if chosen.isdigit() else None
        self.restock: dict[int, int | None] = {}
        for line_id, raw in _ints("restock-").items():
            raw = str(raw).strip()
            if line_id not in self.lines:
                continue
            if raw.isdigit():
                self.restock[line_id] = int(raw)
            elif raw == "default":
                if self.restock_location is None:
                    self.errors["restock_location"] = ["Choose where restocked units go."]
                else:
                    self.restock[line_id] = self.restock_location
        self.shipping_amount = self._amount(order, "shipping_amount")
        self.extra_amount = self._amount(order, "extra_amount")
        self.reason = request.form.get("reason", "").strip()
        # Back the way it was paid (gift cards and store credit first), or as store credit.
        self.destination = (
            TO_STORE_CREDIT if request.form.get("destination") == TO_STORE_CREDIT else TO_ORIGINAL
        )

    def _amount(self, order: Order, field: str) -> int:
        text = request.form.get(field, "").strip()
        if not text:
            return 0
        try:
            return parse_amount(text, order.currency, field=field)
        except ValidationError as exc:
            self.errors[field] = [exc.message]
            return 0

    def check(self) -> None:
        if self.errors:
            raise ValidationError("Please correct the highlighted fields.", errors=self.errors)


def _dialog(
    order: Order,
    *,
    step: str,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    **context: Any,
) -> Response:
    return render(
        "console/orders/refund.html",
        order=order,
        step=step,
        errors=errors or {},
        values=request.form,
        locations=active_locations(),
        returnable=returnable_quantities(order),
        plain=lambda amount: format_amount_plain(amount, order.currency),
        paid_outside=paid_outside_shop(order),
        status=status,
        **context,
    )


def order_refund(order_id: int) -> Response:
    """GET: the choice; POST: the review (nothing is refunded yet)."""
    order = _order(order_id)
    if request.method == "GET":
        return _dialog(order, step="choose", key=str(uuid.uuid4()))
    wanted = RefundRequest(order)
    try:
        wanted.check()
        quote = quote_refund(
            order,
            lines=wanted.lines,
            shipping_amount=wanted.shipping_amount,
            extra_amount=wanted.extra_amount,
        )
    except CommerceError as exc:
        errors = error_messages(exc)
        return _dialog(
            order,
            step="choose",
            status=exc.status,
            errors={**wanted.errors, **errors},
            key=str(uuid.uuid4()),
        )
    return _dialog(
        order,
        step="review",
        quote=quote,
        wanted=wanted,
        key=str(uuid.uuid4()),
        location_names={loc.id: loc.name for loc in active_locations()},
    )


def order_refund_total(order_id: int) -> Response:
    """The choose step's running total (htmx, as the agent types): the quote's total, tax
    inside and whether it will wait for approval, or what is wrong; nothing is written."""
    order = _order(order_id)
    wanted = RefundRequest(order)
    quote = None
    problems: list[str] = [m for messages in wanted.errors.values() for m in messages]
    if not problems:
        try:
            quote = quote_refund(
                order,
                lines=wanted.lines,
                shipping_amount=wanted.shipping_amount,
                extra_amount=wanted.extra_amount,
            )
        except CommerceError as exc:
            problems = [m for messages in error_messages(exc).values() for m in messages]
            problems = problems or [exc.message]
    return render(
        "console/orders/_refund_total.html",
        "console/orders/_refund_total.html",
        order=order,
        quote=quote,
        problems=problems,
    )


def order_refund_confirm(order_id: int) -> Response:
    order = _order(order_id)
    wanted = RefundRequest(order)
    key = request.form.get("idempotency_key", "")
    try:
        wanted.check()
        refund = issue_refund(
            order,
            lines=wanted.lines,
            shipping_amount=wanted.shipping_amount,
            extra_amount=wanted.extra_amount,
            reason=wanted.reason,
            restock=wanted.restock,
            idempotency_key=key,
            by=current_user,
            destination=wanted.destination,
        )
    except CommerceError as exc:
        order = _order(order_id)
        errors = error_messages(exc)
        errors.setdefault("form", [exc.message])
        return _dialog(
            order, step="choose", status=exc.status, errors=errors, key=str(uuid.uuid4())
        )
    return _dialog(_order(order_id), step="answer", refund=refund)


def _own_refund(order: Order, refund_id: int) -> Refund:
    refund = get_refund(refund_id)
    if refund.order_id != order.id:
        abort(404)
    return refund


def refund_approve(order_id: int, refund_id: int) -> Response:
    order = _order(order_id)
    refund = _own_refund(order, refund_id)
    try:
        refund = approve_refund(refund, by=current_user)
    except CommerceError as exc:
        return done(exc.message, _detail(order), level="error")
    return done(_answer(refund), _detail(order), level=_level(refund))


def refund_reject(order_id: int, refund_id: int) -> Response:
    order = _order(order_id)
    refund = _own_refund(order, refund_id)
    try:
        reject_refund(refund, by=current_user, reason=request.form.get("reason", ""))
    except CommerceError as exc:
        return done(exc.message, _detail(order), level="error")
    return done("Refund rejected; nothing was paid back.", _detail(order))


def refund_retry(order_id: int, refund_id: int) -> Response:
    order = _order(order_id)
    refund = _own_refund(order, refund_id)
    try:
        refund = retry_refund(refund, by=current_user)
    except CommerceError as exc:
        return done(exc.message, _detail(order), level="error")
    return done(_answer(refund), _detail(order), level=_level(refund))


def _answer(refund: Refund) -> str:
    if refund.status == "succeeded":
        return "Refund succeeded: the payment provider accepted it."
    if refund.status == "awaiting_approval":
        return "The refund waits for an admin's approval."
    return f"The payment provider refused the refund: {refund.error_message}"


def _level(refund: Refund) -> str:
    return "error" if refund.status == "failed" else "success"


# -- returns ------------------------------------------------------------------------------------


def return_open(order_id: int) -> Response:
    order = _order(order_id)
    lines = {}
    errors: dict[str, list[str]] = {}
    for line_id, raw in _ints("return-").items():
        text = str(raw).strip() or "0"
        if not text.isdigit():
            errors[f"line-{line_id}"] = ["Enter a whole number of units."]
        elif int(text):
            lines[line_id] = int(text)
    try:
        if errors:
            raise ValidationError("Please correct the highlighted fields.", errors=errors)
        order_return = open_return(
            order, lines=lines, reason=request.form.get("reason", ""), by=current_user
        )
    except CommerceError as exc:
        from console.orders.page import _failed

        return _failed(order, exc, prefix="return-")
    return done(f"Return {order_return.name} opened.", _detail(order))


def _own_return(order: Order, return_id: int) -> Return:
    order_return = get_return(return_id)
    if order_return.order_id != order.id:
        abort(404)
    return order_return


def return_receive(order_id: int, return_id: int) -> Response:
    order = _order(order_id)
    order_return = _own_return(order, return_id)
    received: dict[int, tuple[int, str, int | None]] = {}
    errors: dict[str, list[str]] = {}
    for line in order_return.lines:
        text = request.form.get(f"received-{line.id}", "").strip() or "0"
        disposition = request.form.get(f"disposition-{line.id}", "restock")
        location = request.form.get(f"location-{line.id}", "")
        if not text.isdigit():
            errors[f"line-{line.id}"] = ["Enter a whole number of units."]
            continue
        received[line.id] = (
            int(text),
            disposition,
            int(location) if location.isdigit() else None,
        )
    try:
        if errors:
            raise ValidationError("Please correct the highlighted fields.", errors=errors)
        receive_return(
            order_return,
            received=received,
            refund=request.form.get("refund") == "1",
            idempotency_key=request.form.get("idempotency_key") or f"rma:{order_return.id}",
            by=current_user,
        )
    except CommerceError as exc:
        from console.orders.page import _failed

        return _failed(order, exc, prefix=f"rma-{return_id}-")
    return done(f"Return {order_return.name} received.", _detail(order))


def return_cancel(order_id: int, return_id: int) -> Response:
    order = _order(order_id)
    order_return = _own_return(order, return_id)
    try:
        cancel_return(order_return, by=current_user, reason=request.form.get("reason", ""))
    except CommerceError as exc:
        return done(exc.message, _detail(order), level="error")
    return done(f"Return {order_return.name} cancelled.", _detail(order))
