"""Ctrl+K, the command palette: the console's pages and actions, products, SKUs and barcodes,
orders by number, customers by name or email, ranked and filtered by what the member may open.

Records come from the domain's bounded reads (`catalog.queries.jump_to`,
`orders.queries.find_orders`, `find_customers`), each asked only when the member may open what
it finds: the permission is the one the target's route declares in ROUTE_PERMISSIONS, so the
palette never offers a link that would answer 403.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import jsonify, request, url_for
from flask_login import current_user

from commerce.catalog.queries import jump_to
from commerce.orders.queries import find_customers, find_orders
from console.permissions import ROUTE_PERMISSIONS
from web.pages import render

LIMIT = 12  # results shown; each source is bounded by its own LIMIT too
PER_SOURCE = 5


class Destination(NamedTuple):
    """A page or an action the palette offers: its label, the endpoint it opens, other words
    people type for it, and a permission needed beyond the route's own (a page that shows to
    readers but acts only for editors, as receiving stock)."""

    label: str
    endpoint: str
    kind: str = "Page"
    aliases: tuple[str, ...] = ()
    also_needs: str | None = None


DESTINATIONS: tuple[Destination, ...] = (
    Destination("Dashboard", "console.dashboard", aliases=("home",)),
    Destination("Products", "console.product_list", aliases=("catalog",)),
    Destination("New product", "console.product_new", "Action", ("add product", "create product")),
    Destination("Import products", "console.import_start", "Action", ("csv import", "upload")),
    Destination("Export products", "console.product_export", "Action", ("csv export",)),
    Destination("Bulk edits", "console.bulk_edit_list", aliases=("bulk editor", "undo bulk")),
    Destination("Categories", "console.category_list"),
    Destination("Collections", "console.collection_list"),
    Destination("Stock", "console.stock_overview", aliases=("inventory", "stock levels")),
    Destination(
        "Receive stock",
        "console.stock_receive",
        "Action",
        ("receive", "goods in", "scan"),
        also_needs="inventory.edit",
    ),
    Destination(
        "Adjust stock", "console.stock_adjust", "Action", ("adjust",), also_needs="inventory.edit"
    ),
    Destination("Transfers", "console.transfer_list", aliases=("stock transfers",)),
    Destination(
        "New transfer",
        "console.transfer_new",
        "Action",
        ("transfer stock", "send stock", "move stock"),
    ),
    Destination("Cycle counts", "console.count_start", aliases=("stock count",)),
    Destination("Locations", "console.location_list", aliases=("warehouses",)),
    Destination("Purchase orders", "console.po_list", aliases=("po", "purchasing", "incoming")),
    Destination(
        "New purchase order", "console.po_new", "Action", ("order stock", "add po", "buy stock")
    ),
    Destination("Suppliers", "console.supplier_list", aliases=("vendors",)),
    Destination("Reorder suggestions", "console.reorder_list", aliases=("reorder", "replenish")),
    Destination("Orders", "console.order_list", aliases=("sales",)),
    Destination("Returns", "console.return_queue", aliases=("rma", "returns queue")),
    Destination("Draft orders", "console.draft_list", aliases=("phone order", "invoice")),
    Destination(
        "Abandoned checkouts", "console.abandoned_list", aliases=("abandoned carts", "recovery")
    ),
    Destination("Cart recovery settings", "console.recovery_settings_page"),
    Destination("Refund approvals", "console.refund_approvals", aliases=("approve refunds",)),
    Destination("Payments needing attention", "console.payment_attention"),
    Destination("Export orders", "console.order_export", "Action", ("csv orders",)),
    Destination("Sales report", "console.report_sales", aliases=("reports", "analytics")),
    Destination("Top products report", "console.report_products", aliases=("best sellers",)),
    Destination("Promotions report", "console.report_promotions", aliases=("code performance",)),
    Destination("Refunds report", "console.report_refunds", aliases=("refund reasons",)),
    Destination("Stock value report", "console.report_stock", aliases=("inventory value",)),
    Destination("Customers", "console.customer_list", aliases=("shoppers",)),
    Destination("Promotions", "console.promotion_list", aliases=("discounts",)),
    Destination("New promotion", "console.promotion_new", "Action", ("add promotion", "discount")),
    Destination("Promotion simulator", "console.promotion_simulator"),
    Destination("Search settings", "console.search_home", aliases=("merchandising",)),
    Destination("Search analytics", "console.search_analytics"),
    Destination("Shipping", "console.shipping_list", aliases=("shipping methods",)),
    Destination("Taxes", "console.tax_rate_list", aliases=("tax rates",)),
    Destination("Staff", "console.staff_list", aliases=("people", "users")),
    Destination("Audit log", "console.audit_log", aliases=("history",)),
    Destination("Your account", "console.account_sessions", aliases=("password", "sessions")),
)

# Within one rank, what a person most likely means first.
KIND_ORDER = {
    "Action": 0,
    "Page": 1,
    "Order": 2,
    "Barcode": 3,
    "SKU": 4,
    "Product": 5,
    "Customer": 6,
}


def may_open(member: Any, endpoint: str, also_needs: str | None = None) -> bool:
    """Whether `member` passes the check `endpoint`'s route declares (and `also_needs`)."""
    permission = ROUTE_PERMISSIONS.get(endpoint)
    if permission is None or not member.can(permission):
        return False
    return also_needs is None or member.can(also_needs)


def rank(query: str, keys: list[str | None]) -> int:
    """0 when a key is what was typed, 1 when one starts with it, 2 when one contains it (as a
    whole or any of its words), 3 otherwise (a record the database matched on another text)."""
    q = query.casefold()
    texts = [k.casefold() for k in keys if k]
    if q in texts:
        return 0
    if any(t.startswith(q) for t in texts):
        return 1
    if any(q in t for t in texts):
        return 2
    return 3


def destinations(member: Any, query: str) -> list[dict[str, Any]]:
    """The pages and actions matching `query` that `member` may open."""
    q = query.casefold()
    found = []
    for d in DESTINATIONS:
        keys = [d.label, *d.aliases]
        if not any(q in k.casefold() for k in keys) or not may_open(
            member, d.endpoint, d.also_needs
        ):
            continue
        found.append({"kind": d.kind, "label": d.label, "url": url_for(d.endpoint), "keys": keys})
    return found


def palette(member: Any, query: str) -> list[dict[str, Any]]:
    """Everything the palette shows for `query`, ranked: exact, then prefix, then contains,
    actions and pages before records of the same rank."""
    query = (query or "").strip()[:200]
    if not query:
        return []
    results = destinations(member, query)
    if may_open(member, "console.product_edit"):
        for item in jump_to(query, limit=PER_SOURCE):
            item["url"] = url_for("console.product_edit", product_id=item["product_id"])
            results.append(item)
    if may_open(member, "console.order_detail"):
        for item in find_orders(query, limit=PER_SOURCE):
            item["url"] = url_for("console.order_detail", order_id=item["order_id"])
            results.append(item)
    if may_open(member, "console.customer_detail"):
        for item in find_customers(query, limit=PER_SOURCE):
            item["url"] = url_for("console.customer_detail", customer_id=item["customer_id"])
            results.append(item)
    results.sort(key=lambda r: (rank(query, r["keys"]), KIND_ORDER.get(r["kind"], 9)))
    return results[:LIMIT]


def jump() -> Any:
    """Ctrl+K's results: an htmx fragment of options, or JSON for scripts."""
    query = request.args.get("q", "")
    results = palette(current_user, query)
    if request.accept_mimetypes.best == "application/json":
        return jsonify([{k: v for k, v in r.items() if k != "keys"} for r in results])
    return render(
        "console/_jump_results.html", "console/_jump_results.html", results=results, q=query
    )
