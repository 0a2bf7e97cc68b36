"""The audit log, filterable by staff member or API token, subject and date."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from sqlalchemy import select

from commerce.audit import field_label, is_internal_key, is_money_key, query_entries
from commerce.extensions import db
from commerce.staff.models import ApiToken, StaffMember
from console import bp
from console.web import int_arg
from web.pages import render

PAGE = 50


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def audit_log() -> Any:
    filters = {
        "actor_id": int_arg("actor"),
        "actor_token_id": int_arg("token"),
        "subject_type": request.args.get("subject_type", "").strip() or None,
        "subject_id": request.args.get("subject_id", "").strip() or None,
        "text": request.args.get("q", "").strip() or None,
        "date_from": _date_arg("from"),
        "date_to": _date_arg("to"),
    }
    entries = query_entries(**filters, before_id=int_arg("before"), limit=PAGE + 1)
    has_more = len(entries) > PAGE
    entries = entries[:PAGE]
    staff = list(db.session.scalars(select(StaffMember).order_by(StaffMember.email)))
    tokens = list(db.session.scalars(select(ApiToken).order_by(ApiToken.name, ApiToken.id)))
    return render(
        "console/audit/list.html",
        "console/audit/_table.html",
        entries=entries,
        staff=staff,
        tokens=tokens,
        filters=filters,
        args=request.args,
        next_before=entries[-1].id if has_more and entries else None,
    )


@bp.app_template_filter("audit_value")
def audit_value(value: Any, key: str = "") -> str:
    """A before/after value as a person reads it: lists joined, money formatted, internal ids
    and tokens left out, blanks as —."""
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_money_key(key) and isinstance(value, int):
        from flask import current_app

        from commerce.money import format_money

        return format_money(value, current_app.config["SHOP_CURRENCY"])
    if isinstance(value, list):
        return ", ".join(audit_value(v, key) for v in value)
    if isinstance(value, dict):
        return "; ".join(
            f"{field_label(str(k)).lower()}: {audit_value(v, str(k))}"
            for k, v in value.items()
            if not is_internal_key(str(k))
        )
    text = str(value)
    return text if len(text) <= 160 else text[:157] + "…"
