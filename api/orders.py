"""Orders: the console's list (same filters and sorts), one order, a shipped parcel with
tracking, and cancellation. Customers: list and read."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from flask import request, url_for
from pydantic import BaseModel, Field
from spectree import Response as Responses

from api.schemas import (
    Id,
    Links,
    Money,
    MoneyIn,
    PageQuery,
    check_currency,
    next_link,
    page_limit,
    paged,
)
from api.web import (
    ERRORS,
    ONE_ERRORS,
    WRITE_ERRORS,
    ApiModel,
    Problem,
    actor,
    bp,
    derived_key,
    scope,
    security,
    spec,
)
from api.web import timestamp as ts
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.orders.cancellation import cancel_order
from commerce.orders.fulfillment import fulfil_and_ship
from commerce.orders.models import Fulfillment, Order, Refund
from commerce.orders.queries import (
    CustomerRow,
    OrderFilter,
    OrderRow,
    get_customer_with_addresses,
    list_customers,
    list_orders,
)
from commerce.orders.refunds import issue_refund
from commerce.orders.services import get_order
from commerce.payments.models import Payment

TAG, CUSTOMERS = "orders", "customers"


class OrderSummary(BaseModel):
    id: int
    number: int | None
    name: str
    placed_at: str | None
    email: str
    customer_id: int | None
    customer_name: str
    channel: str
    status: str
    payment_status: str
    fulfillment_status: str
    item_count: int
    total: Money


class OrderPage(BaseModel):
    data: list[OrderSummary]
    links: Links


class OrderListQuery(PageQuery):
    status: Literal["open", "completed", "cancelled"] | None = None
    payment_status: (
        Literal[
            "pending",
            "authorized",
            "partially_paid",
            "paid",
            "partially_refunded",
            "refunded",
            "voided",
        ]
        | None
    ) = None
    fulfillment_status: (
        Literal["unfulfilled", "partially_fulfilled", "fulfilled", "partially_returned", "returned"]
        | None
    ) = None
    channel: Literal["web", "console"] | None = None
    email: str | None = None
    sku: str | None = Field(None, description="Orders holding this SKU.")
    customer_id: Id | None = None
    placed_from: date | None = Field(None, description="A shop-local day, included.")
    placed_to: date | None = Field(None, description="A shop-local day, included.")
    total_min: int | None = Field(None, description="Minor units.")
    total_max: int | None = Field(None, description="Minor units.")
    sort: Literal["placed", "number", "total", "customer"] = "placed"
    direction: Literal["asc", "desc"] = "desc"


class OrderLineOut(BaseModel):
    id: int
    variant_id: int | None = Field(description="null for a custom item (no catalog variant)")
    product_id: int | None
    sku: str | None
    title: str
    quantity: int
    unit_price: Money
    amount: Money
    discount: Money
    tax: Money
    fulfilled_quantity: int
    refunded_quantity: int
    returned_quantity: int
    custom: bool = Field(
        default=False, description="a custom item added to a draft order: it holds no stock"
    )
    requires_shipping: bool = True


class FulfillmentLineOut(BaseModel):
    order_line_id: int
    quantity: int


class FulfillmentOut(BaseModel):
    id: int
    order_id: int
    location_id: int
    status: str
    carrier: str
    tracking_number: str
    lines: list[FulfillmentLineOut]
    created_at: str | None
    shipped_at: str | None


class ShippingMethod(BaseModel):
    code: str
    name: str


class OrderOut(BaseModel):
    id: int
    number: int | None
    name: str
    email: str
    customer_id: int | None
    customer_name: str
    channel: str
    status: str
    payment_status: str
    fulfillment_status: str
    currency: str
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    total: Money
    paid_total: Money
    refunded_total: Money
    shipping_address: dict[str, Any]
    shipping_method: ShippingMethod
    lines: list[OrderLineOut]
    fulfillments: list[FulfillmentOut]
    cancel_reason: str
    cancelled_at: str | None
    placed_at: str | None
    updated_at: str | None


class FulfillmentLineIn(ApiModel):
    order_line_id: Id
    quantity: int = Field(gt=0)


class FulfillmentIn(ApiModel):
    location_id: Id = Field(description="Where the units are picked (allocated) from.")
    carrier: str = Field(min_length=1, max_length=60)
    tracking_number: str = Field(min_length=1, max_length=120)
    lines: list[FulfillmentLineIn] | None = Field(
        None, description="Absent: every unit of the order waiting at that location."
    )


class RefundLineIn(ApiModel):
    order_line_id: Id
    quantity: int = Field(gt=0)
    restock_location_id: Id | None = Field(
        None, description="Put the returned units back on sale there (shipped units only)."
    )


class RefundIn(ApiModel):
    lines: list[RefundLineIn] = Field(default_factory=list)
    shipping: MoneyIn | None = Field(None, description="Shipping to give back.")
    reason: str = Field("", max_length=500, description="Optional, as in the console.")


class RefundLineOut(BaseModel):
    order_line_id: int
    quantity: int
    amount: Money
    restock: bool
    location_id: int | None


class RefundOut(BaseModel):
    id: int
    order_id: int
    status: str = Field(description="processing, succeeded, failed or awaiting_approval")
    amount: Money
    shipping_amount: Money
    tax_amount: Money
    reason: str
    error_message: str
    lines: list[RefundLineOut]
    paid_outside_shop: bool = Field(
        default=False,
        description="the order was paid outside the shop (a draft marked paid): no provider "
        "was asked; the merchant pays the money back themselves",
    )
    created_at: str | None
    completed_at: str | None


class CancelIn(ApiModel):
    reason: str = Field(min_length=1, max_length=500)


class CustomerSummary(BaseModel):
    id: int
    email: str
    name: str
    is_active: bool
    order_count: int
    last_order_at: str | None
    created_at: str | None


class CustomerPage(BaseModel):
    data: list[CustomerSummary]
    links: Links


class CustomerQuery(PageQuery):
    q: str | None = Field(None, description="Part of an email or a name.")


class AddressOut(BaseModel):
    id: int
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str
    is_default: bool


class CustomerOut(BaseModel):
    id: int
    email: str
    name: str
    is_active: bool
    tags: list[str]
    addresses: list[AddressOut]
    created_at: str | None
    last_sign_in_at: str | None


def _name(number: int | None, order_id: int) -> str:
    return f"#{number}" if number else f"order {order_id}"


def render_summary(row: OrderRow) -> OrderSummary:
    return OrderSummary(
        id=row.id,
        number=row.number,
        name=_name(row.number, row.id),
        placed_at=ts(row.placed_at),
        email=row.email,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        channel=row.channel,
        status=row.status,
        payment_status=row.payment_status,
        fulfillment_status=row.fulfillment_status,
        item_count=row.item_count,
        total=Money(amount=row.total, currency=row.currency),
    )


def render_fulfillment(parcel: Fulfillment) -> FulfillmentOut:
    return FulfillmentOut(
        id=parcel.id,
        order_id=parcel.order_id,
        location_id=parcel.location_id,
        status=parcel.status,
        carrier=parcel.carrier,
        tracking_number=parcel.tracking_number,
        lines=[
            FulfillmentLineOut(order_line_id=line.order_line_id, quantity=line.quantity)
            for line in parcel.lines
        ],
        created_at=ts(parcel.created_at),
        shipped_at=ts(parcel.shipped_at),
    )


def render_order(order: Order) -> OrderOut:
    cur = order.currency

    def m(amount: int) -> Money:
        return Money(amount=amount, currency=cur)

    return OrderOut(
        id=order.id,
        number=order.number,
        name=_name(order.number, order.id),
        email=order.email,
        customer_id=order.customer_id,
        customer_name=order.customer_name,
        channel=order.channel,
        status=order.status,
        payment_status=order.payment_status,
        fulfillment_status=order.fulfillment_status,
        currency=cur,
        subtotal=m(order.subtotal),
        discount_total=m(order.discount_total),
        shipping_total=m(order.shipping_total),
        tax_total=m(order.tax_total),
        total=m(order.total),
        paid_total=m(order.paid_total),
        refunded_total=m(order.refunded_total),
        shipping_address=dict(order.shipping_address or {}),
        shipping_method=ShippingMethod(
            code=order.shipping_method_code, name=order.shipping_method_name
        ),
        lines=[
            OrderLineOut(
                id=line.id,
                variant_id=line.variant_id,
                custom=line.is_custom,
                requires_shipping=line.requires_shipping,
                product_id=line.product_id,
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=m(line.unit_price),
                amount=m(line.amount),
                discount=m(line.discount),
                tax=m(line.tax),
                fulfilled_quantity=line.fulfilled_quantity,
                refunded_quantity=line.refunded_quantity,
                returned_quantity=line.returned_quantity,
            )
            for line in order.lines
        ],
        fulfillments=[render_fulfillment(f) for f in order.fulfillments],
        cancel_reason=order.cancel_reason,
        cancelled_at=ts(order.cancelled_at),
        placed_at=ts(order.placed_at),
        updated_at=ts(order.updated_at),
    )


@bp.get("/orders", endpoint="list_orders")
@scope("orders:read")
@spec.validate(
    query=OrderListQuery,
    resp=Responses(HTTP_200=OrderPage, **ERRORS),
    tags=[TAG],
    security=security("orders:read"),
)
def list_orders_view() -> tuple:
    """List orders, filtered and sorted as in the console

    Filters combine (AND). `sort` is one of `placed` (default), `number`, `total`,
    `customer`, with `direction` `desc` (default) or `asc`. Keyset pages: follow
    `links.next`; a cursor belongs to its sort."""
    query: OrderListQuery = request.context.query  # type: ignore[attr-defined]
    flt = OrderFilter(
        statuses=(query.status,) if query.status else (),
        payment_statuses=(query.payment_status,) if query.payment_status else (),
        fulfillment_statuses=(query.fulfillment_status,) if query.fulfillment_status else (),
        channel=query.channel or "",
        email=query.email or "",
        sku=query.sku or "",
        customer_id=query.customer_id,
        placed_from=query.placed_from,
        placed_to=query.placed_to,
        total_min=query.total_min,
        total_max=query.total_max,
        sort=query.sort,
        direction=query.direction,
    )
    page = list_orders(flt, after=query.cursor, limit=page_limit(query.limit), with_total=False)
    args = query.model_dump(exclude={"cursor"}, exclude_none=True, exclude_defaults=True)
    nxt = next_link("api.list_orders", page.next_cursor, **args)
    body = OrderPage(data=[render_summary(r) for r in page.items], links=Links(next=nxt))
    return paged(body, nxt)


@bp.get("/orders/<int:order_id>", endpoint="get_order")
@scope("orders:read")
@spec.validate(
    resp=Responses(HTTP_200=OrderOut, **ONE_ERRORS), tags=[TAG], security=security("orders:read")
)
def get_order_view(order_id: int) -> OrderOut:
    """Read an order: lines, totals, payment and fulfilment state, parcels"""
    return render_order(get_order(order_id))


@bp.post("/orders/<int:order_id>/fulfillments", endpoint="create_fulfillment")
@scope("orders:write")
@spec.validate(
    json=FulfillmentIn,
    resp=Responses(HTTP_201=FulfillmentOut, **WRITE_ERRORS),
    tags=[TAG],
    security=security("orders:write"),
)
def create_fulfillment_view(order_id: int) -> tuple:
    """Ship a parcel with its carrier and tracking number

    The units leave the stock they were allocated at `location_id` (the ledger books them
    as sold); the order becomes partly or wholly fulfilled and the customer is emailed."""
    body: FulfillmentIn = request.context.json  # type: ignore[attr-defined]
    order = get_order(order_id)
    lines = None
    if body.lines is not None:
        lines = {}
        for line in body.lines:
            lines[line.order_line_id] = lines.get(line.order_line_id, 0) + line.quantity
    parcel = fulfil_and_ship(
        order,
        location_id=body.location_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        lines=lines,
        by=actor(),
    )
    location = url_for("api.get_order", order_id=order_id, _external=True)
    return render_fulfillment(parcel), 201, {"Location": location}


@bp.post("/orders/<int:order_id>/cancel", endpoint="cancel_order")
@scope("orders:write")
@spec.validate(
    json=CancelIn,
    resp=Responses(HTTP_200=OrderOut, **WRITE_ERRORS),
    tags=[TAG],
    security=security("orders:write"),
)
def cancel_order_view(order_id: int) -> OrderOut:
    """Cancel an order nothing of which has shipped

    Its stock goes back on sale and its payment is voided or refunded; 409 once items have
    shipped (open a return instead, in the console)."""
    body: CancelIn = request.context.json  # type: ignore[attr-defined]
    return render_order(cancel_order(get_order(order_id), reason=body.reason, by=actor()))


def _paid_outside(refund: Refund) -> bool:
    payment = db.session.get(Payment, refund.payment_id) if refund.payment_id else None
    return payment is not None and payment.is_manual


def render_refund(refund: Refund) -> RefundOut:
    cur = refund.currency
    return RefundOut(
        id=refund.id,
        order_id=refund.order_id,
        status=refund.status,
        amount=Money(amount=refund.amount, currency=cur),
        shipping_amount=Money(amount=refund.shipping_amount, currency=cur),
        tax_amount=Money(amount=refund.tax_amount, currency=cur),
        reason=refund.reason,
        error_message=refund.error_message,
        paid_outside_shop=_paid_outside(refund),
        lines=[
            RefundLineOut(
                order_line_id=line.order_line_id,
                quantity=line.quantity,
                amount=Money(amount=line.amount, currency=cur),
                restock=line.restock,
                location_id=line.location_id,
            )
            for line in refund.lines
        ],
        created_at=ts(refund.created_at),
        completed_at=ts(refund.completed_at),
    )


@bp.post("/orders/<int:order_id>/refunds", endpoint="create_refund")
@scope("orders:refund")
@spec.validate(
    json=RefundIn,
    resp=Responses(HTTP_201=RefundOut, HTTP_402=Problem, **WRITE_ERRORS),
    tags=[TAG],
    security=security("orders:refund"),
)
def create_refund_view(order_id: int) -> tuple:
    """Refund lines and/or shipping of an order

    The money goes back through the payment provider; `status` says how it went (an order
    paid outside the shop asks no provider: `paid_outside_shop`, the merchant pays it back). Above
    `REFUND_APPROVAL_LIMIT` the refund waits for an admin's approval in the console
    (`awaiting_approval`): a token never approves. 409 when more is asked than was captured."""
    body: RefundIn = request.context.json  # type: ignore[attr-defined]
    order = get_order(order_id)
    lines: dict[int, int] = {}
    restock: dict[int, int | None] = {}
    for line in body.lines:
        lines[line.order_line_id] = lines.get(line.order_line_id, 0) + line.quantity
        if line.restock_location_id is not None:
            restock[line.order_line_id] = line.restock_location_id
    refund = issue_refund(
        order,
        lines=lines,
        shipping_amount=check_currency(body.shipping, order.currency, "shipping") or 0,
        reason=body.reason,
        restock=restock or None,
        idempotency_key=derived_key(),
        by=actor(),
    )
    location = url_for("api.get_order", order_id=order_id, _external=True)
    return render_refund(refund), 201, {"Location": location}


@bp.get("/customers", endpoint="list_customers")
@scope("customers:read")
@spec.validate(
    query=CustomerQuery,
    resp=Responses(HTTP_200=CustomerPage, **ERRORS),
    tags=[CUSTOMERS],
    security=security("customers:read"),
)
def list_customers_view() -> tuple:
    """List customers, newest first, optionally searched by email or name"""
    query: CustomerQuery = request.context.query  # type: ignore[attr-defined]
    page = list_customers(query.q or "", after=query.cursor, limit=page_limit(query.limit))
    nxt = next_link("api.list_customers", page.next_cursor, limit=query.limit, q=query.q)
    body = CustomerPage(data=[_customer_row(r) for r in page.items], links=Links(next=nxt))
    return paged(body, nxt)


def _customer_row(row: CustomerRow) -> CustomerSummary:
    return CustomerSummary(
        id=row.id,
        email=row.email,
        name=row.name,
        is_active=row.is_active,
        order_count=row.order_count,
        last_order_at=ts(row.last_order_at),
        created_at=ts(row.created_at),
    )


@bp.get("/customers/<int:customer_id>", endpoint="get_customer")
@scope("customers:read")
@spec.validate(
    resp=Responses(HTTP_200=CustomerOut, **ONE_ERRORS),
    tags=[CUSTOMERS],
    security=security("customers:read"),
)
def get_customer_view(customer_id: int) -> CustomerOut:
    """Read a customer with their addresses and tags"""
    customer = get_customer_with_addresses(customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    return CustomerOut(
        id=customer.id,
        email=customer.email,
        name=customer.name,
        is_active=customer.is_active,
        tags=list(customer.tags or []),
        addresses=[
            AddressOut(
                id=a.id,
                name=a.name,
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                region=a.region,
                postal_code=a.postal_code,
                country=a.country,
                phone=a.phone,
                is_default=a.is_default,
            )
            for a in customer.addresses
        ],
        created_at=ts(customer.created_at),
        last_sign_in_at=ts(customer.last_sign_in_at),
    )
