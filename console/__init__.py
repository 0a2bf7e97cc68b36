"""The merchant back office at /console: a package per area (catalog, inventory, purchasing,
orders, customers, gift cards, promotions, reports, search, settings, staff, audit, jobs), each
opening with its route table, and the console's shell here (sign-in, the dashboard, the Ctrl+K
palette). See ARCHITECTURE.md."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from console import (  # noqa: E402
    account,
    audit,
    auth,
    catalog,
    customers,
    dashboard,
    giftcards,
    inventory,
    jobs,
    orders,
    palette,
    promotions,
    purchasing,
    reports,
    search,
    settings,
    staff,
    two_factor,
)
from console.permissions import PUBLIC, Route, register  # noqa: E402
from console.web import whole_page_in_body  # noqa: E402

bp.after_request(whole_page_in_body)

SHELL_ROUTES = [
    Route("/login", auth.login, PUBLIC, methods=["GET", "POST"]),
    Route("/logout", auth.logout, PUBLIC, methods=["POST"]),
    Route("/invitation/<token>", auth.accept_invite, PUBLIC, methods=["GET", "POST"]),
    Route("/login/code", two_factor.login_code, PUBLIC, methods=["GET", "POST"]),
    Route("/login/enrol", two_factor.login_enrol, PUBLIC, methods=["GET", "POST"]),
    Route("/password/forgot", account.password_forgot, PUBLIC, methods=["GET", "POST"]),
    Route("/password/reset/<token>", account.password_reset, PUBLIC, methods=["GET", "POST"]),
    # One's own account: password, sessions, second factor
    Route("/account/password", account.account_password, "dashboard.view", methods=["GET", "POST"]),
    Route("/account/sessions", account.account_sessions, "dashboard.view"),
    Route(
        "/account/sessions/<int:session_id>/end",
        account.account_session_end,
        "dashboard.view",
        methods=["POST"],
    ),
    Route(
        "/account/sessions/end-others",
        account.account_sessions_end_others,
        "dashboard.view",
        methods=["POST"],
    ),
    Route("/account/two-factor", two_factor.account_two_factor, "dashboard.view"),
    Route(
        "/account/two-factor/confirm",
        two_factor.account_two_factor_confirm,
        "dashboard.view",
        methods=["POST"],
    ),
    Route(
        "/account/two-factor/recovery-codes",
        two_factor.account_recovery_codes,
        "dashboard.view",
        methods=["POST"],
    ),
    Route(
        "/account/two-factor/disable",
        two_factor.account_two_factor_disable,
        "dashboard.view",
        methods=["POST"],
    ),
    Route("/", dashboard.dashboard, "dashboard.view"),
    Route("/dashboard/jobs", dashboard.dashboard_jobs, "dashboard.view"),
    Route("/low-stock", dashboard.dashboard_low_stock, "inventory.view"),
    Route("/jump", palette.jump, "dashboard.view"),
]

register(bp, SHELL_ROUTES)
for area in (
    catalog,
    inventory,
    purchasing,
    orders,
    customers,
    giftcards,
    promotions,
    reports,
    search,
    settings,
    staff,
    audit,
    jobs,
):
    register(bp, area.ROUTES)
