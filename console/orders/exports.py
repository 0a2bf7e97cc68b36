"""CSV exports of the order list and the customer list (their current filter and sort).

Both carry personal data: the permission is its own (orders.export: support and admin) and
the service writes an audit entry before the first byte is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, request, stream_with_context, url_for
from flask_login import current_user

from commerce.orders.csv_export import export_customers, export_orders
from console.orders.listing import filter_args, read_order_filter
from console.web import done

_PROBLEM_LABELS = {
    "from": "placed from",
    "to": "placed to",
    "total_min": "total from",
    "total_max": "total to",
    "note": "internal note",
}


def _csv_response(chunks: Iterator[str], name: str) -> Response:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


def order_export() -> Any:
    """The order list's filter and sort as CSV; a wrong filter is not exported (the list says
    what is wrong) rather than exporting more than was asked."""
    flt, problems = read_order_filter(request.args)
    if problems:
        key, message = next(iter(problems.items()))
        back = url_for("console.order_list", **filter_args(request.args))
        label = _PROBLEM_LABELS.get(key, key)
        return done(f"Not exported: {label}: {message}", back, level="error")
    return _csv_response(export_orders(flt, by=current_user), "orders")


def customer_export() -> Any:
    """The customer list's search as CSV, newest first like the list."""
    q = request.args.get("q", "").strip()[:200]
    return _csv_response(export_customers(q, by=current_user), "customers")
