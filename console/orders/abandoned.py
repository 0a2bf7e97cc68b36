"""Abandoned checkouts in the console: the list (value, items, customer, last step reached,
what recovery sent; filters and pages) with the recovered revenue, and the recovery settings
(admins: settings.manage; audited)."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.abandoned.queries import FILTERS, list_abandoned, recovered_revenue
from commerce.abandoned.services import recovery_settings, save_recovery_settings
from commerce.errors import CommerceError
from console.web import done
from web.forms import error_messages
from web.pages import render


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return min(int(raw), 10_000) if raw.isdigit() and int(raw) > 0 else 1


def abandoned_list() -> Response:
    found = list_abandoned(
        shown=request.args.get("shown", ""), q=request.args.get("q", ""), page=_page_number()
    )
    return render(
        "console/orders/abandoned.html",
        found=found,
        filters=FILTERS,
        recovered=recovered_revenue(),
        settings=recovery_settings(),
    )


def _settings_page(status: int = 200, errors: dict[str, list[str]] | None = None) -> Response:
    return render(
        "console/settings/recovery.html",
        settings=recovery_settings(),
        errors=errors or {},
        values=request.form if request.method == "POST" else {},
        status=status,
    )


def recovery_settings_page() -> Response:
    if request.method == "GET":
        return _settings_page()
    form = request.form
    try:
        save_recovery_settings(
            abandoned_after_minutes=form.get("abandoned_after_minutes", ""),
            first_email=form.get("first_email") == "y",
            second_email=form.get("second_email") == "y",
            second_after_hours=form.get("second_after_hours", ""),
            require_consent=form.get("require_consent") == "y",
            promotion_code=form.get("promotion_code", ""),
            by=current_user,
        )
    except CommerceError as exc:
        return _settings_page(exc.status if exc.status >= 400 else 400, error_messages(exc))
    return done("Recovery settings saved.", url_for("console.recovery_settings_page"))
