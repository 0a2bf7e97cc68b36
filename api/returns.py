"""Refund quotes and returns (RMAs): what a refund would give back, and returns listed, read,
opened on an order and received, through the same services as the console's order page."""

from __future__ import annotations

from typing import Literal

from flask import request, url_for
from pydantic import BaseModel, Field
from spectree import Response as Responses

from api.orders import RefundOut, render_refund
from api.schemas import Id, Links, Money, MoneyIn, PageQuery, check_currency, next_link, page_limit
from api.schemas import paged as paged_answer
from api.web import (
    ERRORS,
    ONE_ERRORS,
    WRITE_ERRORS,
    ApiModel,
    ApiProblem,
    Problem,
    actor,
    bp,
    derived_key,
    scope,
    security,
    spec,
)
from api.web import timestamp as ts
from commerce.orders.models import Return
from commerce.orders.queries import ReturnRow, list_returns
from commerce.orders.refunds import RefundQuote, quote_refund
from commerce.orders.returns import get_return, open_return, receive_return, refund_for_return
from commerce.orders.services import get_order

TAG = "returns"
WRITE_422 = {**WRITE_ERRORS, "HTTP_422": Problem}


# -- the refund quote ---------------------------------------------------------------------------


class QuoteLineIn(ApiModel):
    order_line_id: Id
    quantity: int = Field(gt=0, le=1_000_000)


class QuoteIn(ApiModel):
    lines: list[QuoteLineIn] = Field(default_factory=list, max_length=500)
    shipping: MoneyIn | None = Field(None, description="Shipping to give back.")


class QuoteLineOut(BaseModel):
    order_line_id: int
    title: str
    sku: str | None
    quantity: int
    amount: Money = Field(description="Tax included where the order charged it on top.")
    tax: Money = Field(description="The tax inside `amount`.")


class QuoteOut(BaseModel):
    order_id: int
    lines: list[QuoteLineOut]
    shipping_amount: Money
    tax_amount: Money
    total: Money
    refundable: Money = Field(description="The most any refund on this order may be now.")
    shipping_refundable: Money
    needs_approval: bool = Field(
        description="A refund of this total by a token waits for an admin's approval."
    )


def _lines(lines: list[QuoteLineIn]) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.order_line_id] = wanted.get(line.order_line_id, 0) + line.quantity
    return wanted


def render_quote(order_id: int, quote: RefundQuote) -> QuoteOut:
    cur = quote.currency

    def m(amount: int) -> Money:
        return Money(amount=amount, currency=cur)

    return QuoteOut(
        order_id=order_id,
        lines=[
            QuoteLineOut(
                order_line_id=line.order_line_id,
                title=line.title,
                sku=line.sku,
                quantity=line.quantity,
                amount=m(line.amount),
                tax=m(line.tax),
            )
            for line in quote.lines
        ],
        shipping_amount=m(quote.shipping_amount),
        tax_amount=m(quote.tax_amount),
        total=m(quote.total),
        refundable=m(quote.refundable),
        shipping_refundable=m(quote.shipping_refundable),
        needs_approval=quote.needs_approval,
    )


@bp.post("/orders/<int:order_id>/refunds/quote", endpoint="quote_refund")
@scope("orders:refund")
@spec.validate(
    json=QuoteIn,
    resp=Responses(HTTP_200=QuoteOut, **WRITE_422),
    tags=["orders"],
    security=security("orders:refund"),
)
def quote_refund_view(order_id: int) -> QuoteOut:
    """Preview a refund without making it

    The same body as `POST /orders/{order_id}/refunds` (without `reason`): what each line
    gives back with its tax, the total, what is still refundable and whether the refund would
    wait for approval. Nothing is written; 422 at the field for a quantity or amount too
    large, 409 when nothing was captured."""
    body: QuoteIn = request.context.json  # type: ignore[attr-defined]
    order = get_order(order_id)
    shipping = check_currency(body.shipping, order.currency, "shipping") or 0
    quote = quote_refund(order, lines=_lines(body.lines), shipping_amount=shipping)
    return render_quote(order.id, quote)


# -- returns ------------------------------------------------------------------------------------


class ReturnSummary(BaseModel):
    id: int
    name: str = Field(description="RMA-<id>")
    status: str = Field(description="open, received or cancelled")
    reason: str
    opened_by_customer: bool
    order_id: int
    order_number: int | None
    customer_name: str
    email: str
    units: int
    received_units: int
    created_at: str | None
    received_at: str | None


class ReturnPage(BaseModel):
    data: list[ReturnSummary]
    links: Links


class ReturnQuery(PageQuery):
    status: Literal["open", "received", "cancelled", "all"] = Field(
        "open",
        description="open (the default) reads oldest first, as a queue; the others newest first.",
    )


class ReturnLineOut(BaseModel):
    id: int
    order_line_id: int
    sku: str | None
    title: str
    quantity: int
    received_quantity: int
    disposition: str | None = Field(description="restock or write_off, once received")
    location_id: int | None


class ReturnOut(BaseModel):
    id: int
    name: str
    order_id: int
    status: str
    reason: str
    opened_by_customer: bool
    lines: list[ReturnLineOut]
    refund: RefundOut | None = Field(description="The refund made on receipt, if any.")
    created_at: str | None
    received_at: str | None


class ReturnLineIn(ApiModel):
    order_line_id: Id
    quantity: int = Field(gt=0, le=1_000_000)


class ReturnIn(ApiModel):
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=500)


class ReceivedLineIn(ApiModel):
    return_line_id: Id
    quantity: int = Field(ge=0, le=1_000_000)
    disposition: Literal["restock", "write_off"] = "restock"
    location_id: Id | None = Field(None, description="Where restocked units go back.")


class ReceiveIn(ApiModel):
    lines: list[ReceivedLineIn] = Field(min_length=1, max_length=500)
    refund: bool = Field(True, description="Refund the received units (the default).")


def _summary(row: ReturnRow) -> ReturnSummary:
    return ReturnSummary(
        id=row.id,
        name=row.name,
        status=row.status,
        reason=row.reason,
        opened_by_customer=row.opened_by_customer,
        order_id=row.order_id,
        order_number=row.order_number,
        customer_name=row.customer_name,
        email=row.email,
        units=row.units,
        received_units=row.received_units,
        created_at=ts(row.created_at),
        received_at=ts(row.received_at),
    )


def render_return(order_return: Return) -> ReturnOut:
    refund = refund_for_return(order_return)
    return ReturnOut(
        id=order_return.id,
        name=order_return.name,
        order_id=order_return.order_id,
        status=order_return.status,
        reason=order_return.reason,
        opened_by_customer=order_return.opened_by_customer,
        lines=[
            ReturnLineOut(
                id=line.id,
                order_line_id=line.order_line_id,
                sku=line.order_line.sku,
                title=line.order_line.title,
                quantity=line.quantity,
                received_quantity=line.received_quantity,
                disposition=line.disposition,
                location_id=line.location_id,
            )
            for line in order_return.lines
        ],
        refund=render_refund(refund) if refund is not None else None,
        created_at=ts(order_return.created_at),
        received_at=ts(order_return.received_at),
    )


@bp.get("/returns", endpoint="list_returns")
@scope("orders:read")
@spec.validate(
    query=ReturnQuery,
    resp=Responses(HTTP_200=ReturnPage, **ERRORS),
    tags=[TAG],
    security=security("orders:read"),
)
def list_returns_view() -> tuple:
    """List returns across orders, by status

    `status=open` (the default) is the receiving queue, oldest first; `received`,
    `cancelled` and `all` read newest first. Keyset pages: follow `links.next`."""
    query: ReturnQuery = request.context.query  # type: ignore[attr-defined]
    page = list_returns(query.status, after=query.cursor, limit=page_limit(query.limit))
    args = query.model_dump(exclude={"cursor"}, exclude_none=True, exclude_defaults=True)
    nxt = next_link("api.list_returns", page.next_cursor, **args)
    body = ReturnPage(data=[_summary(r) for r in page.items], links=Links(next=nxt))
    return paged_answer(body, nxt)


@bp.get("/returns/<int:return_id>", endpoint="get_return")
@scope("orders:read")
@spec.validate(
    resp=Responses(HTTP_200=ReturnOut, **ONE_ERRORS), tags=[TAG], security=security("orders:read")
)
def get_return_view(return_id: int) -> ReturnOut:
    """Read a return: its lines, what arrived, and the refund made on receipt"""
    return render_return(get_return(return_id))


@bp.post("/orders/<int:order_id>/returns", endpoint="open_return")
@scope("orders:refund")
@spec.validate(
    json=ReturnIn,
    resp=Responses(HTTP_201=ReturnOut, **WRITE_422),
    tags=[TAG],
    security=security("orders:refund"),
)
def open_return_view(order_id: int) -> tuple:
    """Open a return for shipped units of an order

    Each line may ask for the units shipped and not already back or expected by another
    open return (422 at the line otherwise). Webhook subscribers get `return.opened`."""
    body: ReturnIn = request.context.json  # type: ignore[attr-defined]
    order = get_order(order_id)
    lines: dict[int, int] = {}
    for line in body.lines:
        lines[line.order_line_id] = lines.get(line.order_line_id, 0) + line.quantity
    order_return = open_return(order, lines=lines, reason=body.reason, by=actor())
    location = url_for("api.get_return", return_id=order_return.id, _external=True)
    return render_return(order_return), 201, {"Location": location}


@bp.post("/returns/<int:return_id>/receive", endpoint="receive_return")
@scope("orders:refund")
@spec.validate(
    json=ReceiveIn,
    resp=Responses(HTTP_200=ReturnOut, HTTP_402=Problem, **WRITE_422),
    tags=[TAG],
    security=security("orders:refund"),
)
def receive_return_view(return_id: int) -> ReturnOut:
    """Book what arrived, and refund it

    Per return line: how many units came back, and whether they go back on sale at
    `location_id` (`restock`) or are written off. The receipt is kept even when the refund
    then fails (402) or waits for approval; repeat the request with the same
    Idempotency-Key to try the refund again."""
    body: ReceiveIn = request.context.json  # type: ignore[attr-defined]
    order_return = get_return(return_id)
    received: dict[int, tuple[int, str, int | None]] = {}
    for line in body.lines:
        if line.return_line_id in received:
            raise ApiProblem(
                422,
                "Each return line once.",
                code="invalid",
                errors=[("/lines", f"return line {line.return_line_id} is given twice")],
            )
        received[line.return_line_id] = (line.quantity, line.disposition, line.location_id)
    order_return = receive_return(
        order_return,
        received=received,
        refund=body.refund,
        idempotency_key=derived_key(),
        by=actor(),
    )
    return render_return(order_return)
