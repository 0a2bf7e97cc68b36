"""Customers as support sees them: find one by email or name, then their orders, what they
spent, their addresses and the internal notes left on their orders.

Staff set a customer's tags (promotions can require one); every other account change happens in
the shop (the customer's own account pages).
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.customers.services import set_customer_tags
from commerce.errors import ValidationError
from commerce.orders.queries import (
    OrderFilter,
    customer_notes,
    customer_totals,
    get_customer_with_addresses,
    list_customers,
    list_guests,
    list_orders,
)
from console.orders.listing import status_label
from console.web import done
from web.pages import render


def customer_list() -> Response:
    """Accounts, or (`?who=guests`) the emails of orders placed without one: customers are
    everyone who bought, as merchants expect, each kind in its own fast list."""
    q = request.args.get("q", "").strip()[:200]
    who = "guests" if request.args.get("who") == "guests" else "accounts"
    lister = list_guests if who == "guests" else list_customers
    page = lister(
        q,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    args = {k: v for k, v in (("q", q), ("who", who if who == "guests" else "")) if v}
    return render(
        "console/customers/list.html",
        "console/customers/_list.html",
        page=page,
        q=q,
        who=who,
        args=args,
    )


def customer_detail(customer_id: int) -> Response:
    return _detail(customer_id)


def _detail(customer_id: int, *, status: int = 200, **extra: Any) -> Response:
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
        status=status,
        **extra,
    )


def customer_tags(customer_id: int) -> Response:
    customer = get_customer_with_addresses(customer_id)
    if customer is None:
        abort(404)
    value = request.form.get("tags", "")[:2000]
    try:
        set_customer_tags(customer, value, by=current_user)
    except ValidationError as exc:
        return _detail(customer_id, status=422, tag_error=exc.message, tag_value=value)
    return done("Tags saved.", url_for("console.customer_detail", customer_id=customer_id))
