"""The merchant back office at /console: a package per area (catalog, inventory, orders,
customers, promotions, search, settings, staff, audit, jobs), each opening with its route table,
and the console's shell here (sign-in, the dashboard, Ctrl+K). See ARCHITECTURE.md."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from console import (  # noqa: E402
    audit,
    auth,
    catalog,
    customers,
    dashboard,
    inventory,
    jobs,
    orders,
    promotions,
    search,
    settings,
    staff,
)
from console.permissions import PUBLIC, Route, register  # noqa: E402
from console.web import whole_page_in_body  # noqa: E402

bp.after_request(whole_page_in_body)

SHELL_ROUTES = [
    Route("/login", auth.login, PUBLIC, methods=["GET", "POST"]),
    Route("/logout", auth.logout, PUBLIC, methods=["POST"]),
    Route("/invitation/<token>", auth.accept_invite, PUBLIC, methods=["GET", "POST"]),
    Route("/", dashboard.dashboard, "dashboard.view"),
    Route("/dashboard/jobs", dashboard.dashboard_jobs, "dashboard.view"),
    Route("/low-stock", dashboard.dashboard_low_stock, "inventory.view"),
    Route("/jump", dashboard.jump, "catalog.view"),
]

register(bp, SHELL_ROUTES)
for area in (
    catalog,
    inventory,
    orders,
    customers,
    promotions,
    search,
    settings,
    staff,
    audit,
    jobs,
):
    register(bp, area.ROUTES)
