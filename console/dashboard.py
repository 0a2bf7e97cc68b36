"""The console home: what needs attention, and where to go next.

Each panel needs one of the permissions in PANELS; a role sees the panels it can act on
(support: today's orders and refunds; warehouse: orders to ship and low stock; merchandiser:
low stock, jobs and the sales chart; admin: everything, including background work that is
stuck). Only the visible panels are queried.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import redirect, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from commerce.catalog.models import Product
from commerce.checkout.queue import line_stats
from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.queries import low_stock
from commerce.jobs import Job
from commerce.orders.attention import count_needing_attention
from commerce.orders.queries import (
    AWAITING_FULFILLMENT,
    count_awaiting_fulfillment,
    count_refunds_awaiting_approval,
    sales_today,
    shop_today,
)
from commerce.outbox import stuck_topics
from commerce.reports.periods import LAST_30, choose_period
from commerce.reports.sales import sales_over_time
from commerce.webhooks.services import disabled_endpoints
from console import bp
from console.jobs.views import JOB_PERMISSIONS
from console.reports.views import sales_chart
from web.pages import is_htmx, render

# Panel -> the permissions that show it (any one of them).
PANELS: dict[str, tuple[str, ...]] = {
    "sales": ("orders.edit",),  # today's orders and revenue: who looks after customers
    "to_fulfill": ("orders.fulfill",),
    "refunds": ("orders.refund", "orders.refund_approve"),
    "money": ("payments.manage",),  # what the payment recovery could not settle
    "low_stock": ("inventory.edit", "catalog.edit"),  # those who can restock or re-threshold
    "jobs": tuple(sorted({*JOB_PERMISSIONS.values(), "staff.manage"})),
    "products": ("catalog.edit",),
    # Outbox consumers that are behind (failing, or no worker running): shown when there are.
    "background": ("settings.manage",),
    # The checkout line while a sale runs: in checkout, in line, admitted per minute.
    "checkout_queue": ("settings.manage",),
    # Net sales per day, the last 30 days against the 30 before (who may read the reports).
    "sales_chart": ("reports.view",),
}
RECENT_JOBS = 8
LINE_REFRESH_SECONDS = 5


def visible_panels(member: Any) -> set[str]:
    return {name for name, needs in PANELS.items() if any(member.can(p) for p in needs)}


def recent_jobs(member: Any, *, limit: int = RECENT_JOBS) -> list[Job]:
    """The latest jobs `member` may watch (as console/jobs/views.py decides): their own, and
    those of the kinds they may start; an admin sees every job."""
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    if not member.can("staff.manage"):
        kinds = [kind for kind, permission in JOB_PERMISSIONS.items() if member.can(permission)]
        stmt = stmt.where(or_(Job.created_by_id == member.id, Job.kind.in_(kinds)))
    return list(db.session.scalars(stmt))


def dashboard() -> Response:
    panels = visible_panels(current_user)
    context: dict[str, Any] = {"panels": panels}
    if "products" in panels:
        context["counts"] = dict(
            db.session.execute(select(Product.status, func.count()).group_by(Product.status)).all()
        )
    if "sales" in panels:
        context["sales"] = sales_today()
        context["today"] = shop_today().isoformat()
    if "to_fulfill" in panels:
        context["to_fulfill"] = count_awaiting_fulfillment()
        context["to_fulfill_args"] = {
            "status": "open",
            "fulfillment": list(AWAITING_FULFILLMENT),
            "sort": "placed",
            "dir": "asc",
        }
    if "refunds" in panels:
        context["refunds_waiting"] = count_refunds_awaiting_approval()
    if "money" in panels:
        context["money_attention"] = count_needing_attention()
    if "jobs" in panels:
        context["jobs"] = recent_jobs(current_user)
    if "background" in panels:
        context["stuck"] = stuck_topics()
        context["disabled_webhooks"] = disabled_endpoints()
        context["now"] = utcnow()
    if "sales_chart" in panels:
        period, bucket = choose_period(LAST_30)
        context["sales_report"] = report = sales_over_time(period, bucket)
        context["sales_chart"] = sales_chart(report)
    if "checkout_queue" in panels:
        context["line"] = line_stats()
        context["refresh_seconds"] = LINE_REFRESH_SECONDS
    return render("console/dashboard.html", **context)


@bp.app_template_filter("waited")
def waited(delta: timedelta) -> str:
    """A wait as people say it: 40 s, 12 min, 3 h, 2 days."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def dashboard_jobs() -> Response:
    """The jobs panel again (it polls itself while a job runs); a browser gets the dashboard."""
    if not is_htmx():
        return redirect(url_for("console.dashboard"))
    return render(
        "console/_dashboard_jobs.html",
        "console/_dashboard_jobs.html",
        jobs=recent_jobs(current_user),
    )


def dashboard_low_stock() -> Response:
    """The dashboard's low-stock panel, loaded after the page (an aggregate over every level)."""
    if not is_htmx():  # a panel, not a page: the full list lives in the stock overview
        return redirect(url_for("console.stock_overview", low=1, sort="available", dir="asc"))
    return render(
        "console/_low_stock.html", "console/_low_stock.html", low_stock=low_stock(limit=10)
    )
