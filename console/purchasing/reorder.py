"""Reorder suggestions and the draft purchase orders they become in one step."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user

from commerce.errors import CommerceError
from commerce.money import format_money
from commerce.purchasing.reorder import (
    REVIEW_DAYS,
    VELOCITY_DAYS,
    draft_reorder_purchase_orders,
    reorder_suggestions,
)
from console.forms import ConfirmForm
from console.web import done
from web.forms import FORM_EXPIRED
from web.pages import render


def reorder_list() -> Any:
    return render(
        "console/purchasing/reorder.html",
        suggestions=reorder_suggestions(),
        format_money=format_money,
        velocity_days=VELOCITY_DAYS,
        review_days=REVIEW_DAYS,
        errors={},
    )


def reorder_create() -> Any:
    """Draft one PO per supplier from the ticked rows (`pick` = variant ids, `qty-<id>`)."""
    target = url_for("console.reorder_list")
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, target, level="error")
    lines = []
    for raw in request.form.getlist("pick")[:500]:
        if not raw.isdigit():
            continue
        text = request.form.get(f"qty-{raw}", "").strip()
        if not text.isdigit() or int(text) <= 0:
            return done(
                f"Enter a quantity above zero for every ticked row ({raw}).", target, level="error"
            )
        lines.append((int(raw), int(text)))
    try:
        orders = draft_reorder_purchase_orders(lines, by=current_user)
    except CommerceError as exc:
        problems = [m for messages in getattr(exc, "errors", {}).values() for m in messages]
        return done(problems[0] if problems else exc.message, target, level="error")
    numbers = ", ".join(po.number or "" for po in orders)
    if len(orders) == 1:
        return done(f"Draft {numbers} created.", url_for("console.po_detail", po_id=orders[0].id))
    return done(
        f"Drafts {numbers} created, one per supplier.", url_for("console.po_list", status="draft")
    )
