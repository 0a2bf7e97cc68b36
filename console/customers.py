"""Customers as support sees them: find one by email or name, then their orders, what they
spent, their addresses and the internal notes left on their orders.

Read-only: account changes happen in the shop (the customer's own account pages).
"""

from __future__ import annotations

from flask import abort, current_app, request
from werkzeug.wrappers import Response

from commerce.orders.queries import (
    OrderFilter,
    customer_notes,
    customer_totals,
    get_customer_with_addresses,
    list_customers,
    list_orders,
)
from console import bp
from console.orders import status_label
from console.permissions import route
from console.web import render


@route(bp, "/customers", permission="orders.view")
def customer_list() -> Response:
    q = request.args.get("q", "").strip()[:200]
    page = list_customers(
        q,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    return render(
        "console/customers/list.html",
        "console/customers/_list.html",
        page=page,
        q=q,
        args={"q": q} if q else {},
    )


@route(bp, "/customers/<int:customer_id>", permission="orders.view")
def customer_detail(customer_id: int) -> Response:
    customer = get_customer_with_addresses(customer_id)
    if customer is None:
        abort(404)
    orders = list_orders(
        OrderFilter(customer_id=customer.id), limit=current_app.config["PAGE_SIZE"]
    )
    return render(
        "console/customers/detail.html",
        customer=customer,
        orders=orders,
        totals=customer_totals(customer.id),
        notes=customer_notes(customer.id),
        status_label=status_label,
    )
