"""The merchant back office at /console: one module per area."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

# The area modules register their routes on `bp` when imported.
from console import (  # noqa: E402, F401
    account,
    audit,
    auth,
    catalog,
    catalog_import,
    checkout_queue,
    customers,
    dashboard,
    documents,
    inventory,
    inventory_counts,
    inventory_scan,
    jobs,
    media,
    order_exports,
    order_money,
    order_page,
    orders,
    payments,
    promotions,
    search,
    search_analytics,
    search_rules,
    settings,
    staff,
    taxonomy,
    two_factor,
)
