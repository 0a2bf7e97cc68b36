"""Suppliers and purchase orders: read them, draft one, order it, cancel it and receive
against its lines, through the purchasing services (the same receipts, ledger rows and audit
as the console's scan screen)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from flask import request
from pydantic import BaseModel, Field
from spectree import Response as Responses

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
from commerce.purchasing.models import PurchaseOrder, Supplier
from commerce.purchasing.queries import all_suppliers, list_purchase_orders
from commerce.purchasing.services import (
    cancel_purchase_order,
    create_purchase_order,
    get_purchase_order,
    get_purchase_order_line,
    place_purchase_order,
    receive_purchase_order_line,
)

TAG = "purchasing"


WRITE_422 = {**WRITE_ERRORS, "HTTP_422": Problem}


class SupplierOut(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    lead_time_days: int
    currency: str
    is_active: bool


class SupplierList(BaseModel):
    data: list[SupplierOut]


class LineOut(BaseModel):
    id: int
    variant_id: int
    sku: str | None
    quantity: int
    received: int
    outstanding: int
    unit_cost: int = Field(description="Minor units of the purchase order's currency.")


class PurchaseOrderOut(BaseModel):
    id: int
    number: str | None
    status: Literal["draft", "ordered", "partly_received", "received", "cancelled"]
    supplier_id: int
    location_id: int
    currency: str
    expected_on: date | None
    note: str
    total: int = Field(description="Ordered quantity x unit cost, in minor units.")
    lines: list[LineOut]
    created_at: str | None
    ordered_at: str | None
    closed_at: str | None


class PurchaseOrderList(BaseModel):
    data: list[PurchaseOrderOut]


class ListQuery(BaseModel):
    status: Literal[
        "open", "draft", "ordered", "partly_received", "received", "cancelled", "all"
    ] = "open"
    supplier_id: int | None = None


class LineIn(ApiModel):
    variant_id: int
    quantity: int = Field(gt=0)
    unit_cost: int = Field(ge=0, description="Minor units of the supplier's currency.")


class NewPurchaseOrder(ApiModel):
    supplier_id: int
    location_id: int
    expected_on: date | None = None
    note: str = Field("", max_length=2000)
    lines: list[LineIn] = Field(default_factory=list, max_length=500)


class Cancel(ApiModel):
    reason: str = Field("", max_length=500)


class ReceiveLine(ApiModel):
    line_id: int
    quantity: int = Field(gt=0)
    accept_over: bool = Field(
        False, description="Book more than the line still expects (409 over_receipt otherwise)."
    )


def render_supplier(supplier: Supplier) -> SupplierOut:
    return SupplierOut(
        id=supplier.id,
        name=supplier.name,
        email=supplier.email,
        phone=supplier.phone,
        lead_time_days=supplier.lead_time_days,
        currency=supplier.currency,
        is_active=supplier.is_active,
    )


def render_po(po: PurchaseOrder) -> PurchaseOrderOut:
    return PurchaseOrderOut(
        id=po.id,
        number=po.number,
        status=po.status,  # type: ignore[arg-type]
        supplier_id=po.supplier_id,
        location_id=po.location_id,
        currency=po.currency,
        expected_on=po.expected_on,
        note=po.note,
        total=po.total,
        lines=[
            LineOut(
                id=line.id,
                variant_id=line.variant_id,
                sku=line.variant.sku if line.variant else None,
                quantity=line.quantity,
                received=line.received,
                outstanding=line.outstanding,
                unit_cost=line.unit_cost,
            )
            for line in po.lines
        ],
        created_at=ts(po.created_at),
        ordered_at=ts(po.ordered_at),
        closed_at=ts(po.closed_at),
    )


@bp.get("/suppliers")
@scope("inventory:read")
@spec.validate(
    resp=Responses(HTTP_200=SupplierList, **ERRORS), tags=[TAG], security=security("inventory:read")
)
def list_suppliers() -> SupplierList:
    """List suppliers, by name"""
    return SupplierList(data=[render_supplier(s) for s in all_suppliers()])


@bp.get("/purchase-orders")
@scope("inventory:read")
@spec.validate(
    query=ListQuery,
    resp=Responses(HTTP_200=PurchaseOrderList, **ERRORS),
    tags=[TAG],
    security=security("inventory:read"),
)
def list_pos() -> PurchaseOrderList:
    """List purchase orders, newest first (at most 200)

    `open` (the default): ordered and partly received ones, whose outstanding units are
    incoming stock."""
    query: ListQuery = request.context.query  # type: ignore[attr-defined]
    orders = list_purchase_orders(query.status, supplier_id=query.supplier_id)
    return PurchaseOrderList(data=[render_po(po) for po in orders])


@bp.get("/purchase-orders/<int:po_id>")
@scope("inventory:read")
@spec.validate(
    resp=Responses(HTTP_200=PurchaseOrderOut, **ONE_ERRORS),
    tags=[TAG],
    security=security("inventory:read"),
)
def get_po(po_id: int) -> PurchaseOrderOut:
    """Read a purchase order and its lines"""
    return render_po(get_purchase_order(po_id))


@bp.post("/purchase-orders")
@scope("inventory:write")
@spec.validate(
    json=NewPurchaseOrder,
    resp=Responses(HTTP_201=PurchaseOrderOut, **WRITE_422),
    tags=[TAG],
    security=security("inventory:write"),
)
def create_po() -> tuple:
    """Draft a purchase order in the supplier's currency"""
    body: NewPurchaseOrder = request.context.json  # type: ignore[attr-defined]
    po = create_purchase_order(
        by=actor(),
        supplier_id=body.supplier_id,
        location_id=body.location_id,
        expected_on=body.expected_on,
        note=body.note,
        lines=[(line.variant_id, line.quantity, line.unit_cost) for line in body.lines],
    )
    return render_po(po), 201


@bp.post("/purchase-orders/<int:po_id>/order")
@scope("inventory:write")
@spec.validate(
    resp=Responses(HTTP_200=PurchaseOrderOut, **WRITE_422),
    tags=[TAG],
    security=security("inventory:write"),
)
def order_po(po_id: int) -> PurchaseOrderOut:
    """Mark a draft as ordered: its lines become incoming stock"""
    return render_po(place_purchase_order(get_purchase_order(po_id), by=actor()))


@bp.post("/purchase-orders/<int:po_id>/cancel")
@scope("inventory:write")
@spec.validate(
    json=Cancel,
    resp=Responses(HTTP_200=PurchaseOrderOut, **WRITE_422),
    tags=[TAG],
    security=security("inventory:write"),
)
def cancel_po(po_id: int) -> PurchaseOrderOut:
    """Cancel a draft, ordered or partly received purchase order (received units stay)"""
    body: Cancel = request.context.json  # type: ignore[attr-defined]
    po = cancel_purchase_order(get_purchase_order(po_id), by=actor(), reason=body.reason)
    return render_po(po)


@bp.post("/purchase-orders/<int:po_id>/receive")
@scope("inventory:write")
@spec.validate(
    json=ReceiveLine,
    resp=Responses(HTTP_201=PurchaseOrderOut, **WRITE_422),
    tags=[TAG],
    security=security("inventory:write"),
)
def receive_po(po_id: int) -> tuple:
    """Receive units against a line: one ledger movement at the PO's location

    A retry with the same Idempotency-Key books once. More than the line still expects
    answers 409 `over_receipt` unless `accept_over` is true."""
    body: ReceiveLine = request.context.json  # type: ignore[attr-defined]
    po = get_purchase_order(po_id)
    line = get_purchase_order_line(body.line_id)
    if line.purchase_order_id != po.id:
        raise ApiProblem(
            422,
            "That line is not on this purchase order.",
            code="invalid",
            errors=[("/line_id", "That line is not on this purchase order.")],
        )
    receive_purchase_order_line(
        line.id,
        quantity=body.quantity,
        by=actor(),
        idempotency_key=derived_key(),
        accept_over=body.accept_over,
    )
    return render_po(get_purchase_order(po_id)), 201
