"""Search merchandising, part two: query rules. For a query (exact, or contained as whole
words) a rule pins products first in a chosen order, hides others, and boosts or buries
products by a condition (tag, vendor, collection, in stock), within an optional date window
typed in the shop's time zone. A preview shows the query's results before and after the rule
from the form's unsaved values.

The rule form's pieces: the product pickers (search by title or SKU, htmx; chosen products
are list items carrying hidden inputs, posted in their order, reordered with up/down buttons
or by drag and drop), and the boost/bury rows (`boosts-<n>-effect|field|value`, named after
the paths the service gives its messages), added and removed with htmx. Every change goes through
commerce.search.merchandising; the preview through commerce.search.service.preview_rule,
which writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Response, abort, current_app, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, SelectField, StringField

from commerce.audit import query_entries
from commerce.catalog.models import Collection
from commerce.catalog.queries import ProductFilter, list_products, popular_tags, vendors
from commerce.db import utcnow
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.search.models import SearchRule
from commerce.search.rules import (
    CONTAINS,
    EXACT,
    MAX_BOOSTS,
    RULE_SORTS,
    RULE_STATUSES,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    product_labels,
    rule_status,
    rule_status_counts,
    update_rule,
)
from commerce.search.services import preview_rule
from console.forms import ConfirmForm
from console.promotions.form import local_input
from console.search.settings import EDIT, search_context
from console.web import done, int_arg, kept_filter_args
from web.forms import FORM_EXPIRED, named
from web.pages import is_htmx, render

MATCH_LABELS = {
    EXACT: "Exactly these words",
    CONTAINS: "Searches containing these words",
}
EFFECT_LABELS = {"boost": "Boost (move up)", "bury": "Bury (move down)"}
FIELD_LABELS = {
    "tag": "Tag is",
    "vendor": "Vendor is",
    "collection": "In collection",
    "in_stock": "In stock",
}
STATUS_LABELS = {
    "active": "Active",
    "scheduled": "Scheduled",
    "expired": "Expired",
    "disabled": "Disabled",
}
PRODUCT_LISTS = ("pinned_ids", "hidden_ids")
FILTER_KEYS = ("q", "status", "sort", "dir")
PREVIEW_SIZE = 20


class RuleForm(FlaskForm):
    """The rule's own fields, as typed; the service checks them."""

    query = StringField("Search words")
    match = SelectField(
        "Applies to", choices=list(MATCH_LABELS.items()), default=EXACT, validate_choice=False
    )
    starts_at = StringField("Starts")
    ends_at = StringField("Ends")
    enabled = BooleanField("Enabled", default=True)
    note = StringField("Internal note")


def _zone() -> str:
    return str(current_app.config.get("SHOP_TIMEZONE") or "UTC")


# -- the list -----------------------------------------------------------------------------------


def search_rules() -> Response:
    args = request.args
    status = args.get("status", "")
    sort = args.get("sort", "query")
    direction = args.get("dir", "asc")
    problems = {}
    if status and status not in RULE_STATUSES:
        problems["status"] = "Choose a status from the list."
        status = ""
    if sort not in RULE_SORTS:
        sort = "query"
    if direction not in ("asc", "desc"):
        direction = "asc"
    q = args.get("q", "").strip()[:120]
    now = utcnow()
    page = list_rules(
        q=q,
        status=status,
        sort=sort,
        direction=direction,
        page=int_arg("page") or 1,
        per_page=current_app.config["PAGE_SIZE"],
        now=now,
    )
    return render(
        "console/search/rules.html",
        "console/search/_rules.html",
        status=422 if problems else 200,
        page=page,
        q=q,
        flt={"status": status, "sort": sort, "dir": direction},
        problems=problems,
        args=kept_filter_args(args, FILTER_KEYS),
        rule_status=lambda rule: rule_status(rule, now),
        counts=rule_status_counts(now),
        status_labels=STATUS_LABELS,
        match_labels=MATCH_LABELS,
        filtered=bool(q or status),
        htmx_fragment=is_htmx(),
        **search_context("rules"),
    )


# -- the form -----------------------------------------------------------------------------------


def _boost_rows(form: MultiDict[str, str]) -> list[dict[str, str]]:
    """The posted boost/bury rows in their order (a removed row leaves a gap in the numbers)."""
    numbers = sorted(
        {int(m.group(1)) for key in form if (m := re.match(r"^boosts-(\d+)-field$", key))}
    )
    return [
        {
            "effect": form.get(f"boosts-{n}-effect", ""),
            "field": form.get(f"boosts-{n}-field", ""),
            "value": form.get(f"boosts-{n}-value", "").strip(),
        }
        for n in numbers
    ]


def _stored_rows(rule: SearchRule | None) -> list[dict[str, str]]:
    return [dict(b) for b in (rule.boosts or [])] if rule else []


def _posted() -> tuple[RuleForm, dict[str, Any], list[dict[str, str]]]:
    """The form as posted, and the values the service takes."""
    form = RuleForm()
    rows = _boost_rows(request.form)
    fields = {
        "query": form.query.data or "",
        "match": form.match.data or EXACT,
        "pinned_ids": [v for v in request.form.getlist("pinned_ids") if v.strip()],
        "hidden_ids": [v for v in request.form.getlist("hidden_ids") if v.strip()],
        "boosts": [dict(row) for row in rows],
        "starts_at": (form.starts_at.data or "").strip(),
        "ends_at": (form.ends_at.data or "").strip(),
        "enabled": bool(form.enabled.data),
        "note": form.note.data or "",
    }
    return form, fields, rows


def _chosen(values: list[Any]) -> list[dict[str, Any]]:
    """Chosen products as the pickers show them (ids that do not read are kept as typed, so
    the service's message explains them)."""
    ids = [int(v) for v in values if str(v).isdigit()]
    labels = product_labels(ids)
    return [
        {
            "id": v,
            "title": labels.get(int(v), {}).get("title", f"Product #{v}")
            if str(v).isdigit()
            else str(v),
            "status": labels.get(int(v), {}).get("status", "") if str(v).isdigit() else "",
        }
        for v in values
    ]


def _vocabulary() -> dict[str, Any]:
    collections = db.session.execute(
        select(Collection.id, Collection.title).order_by(Collection.title)
    ).all()
    return {
        "tags": popular_tags(500),
        "vendors": vendors(),
        "collections": [(str(c.id), c.title) for c in collections],
    }


def _row_context(rows: list[dict[str, str]], errors: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        "rows": rows,
        "errors": errors,
        "effect_labels": EFFECT_LABELS,
        "field_labels": FIELD_LABELS,
        "max_boosts": MAX_BOOSTS,
        "can_edit": current_user.can(EDIT),
        **_vocabulary(),
    }


def _placed(rows: list[dict[str, str]]) -> set[str]:
    keys = {"query", "match", "starts_at", "ends_at", "enabled", "note", "boosts"}
    keys |= set(PRODUCT_LISTS)
    for n in range(len(rows)):
        keys |= {f"boosts-{n}-effect", f"boosts-{n}-field", f"boosts-{n}-value"}
    return keys


def _rule_page(
    rule: SearchRule | None,
    form: RuleForm,
    fields: Mapping[str, Any],
    rows: list[dict[str, str]],
    *,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
    alert: list[str] | None = None,
    preview: Any = None,
    preview_errors: list[str] | None = None,
) -> Response:
    errors = dict(errors or {})
    placed = _placed(rows)
    leftover = [m for key, messages in errors.items() if key not in placed for m in messages]
    context: dict[str, Any] = {
        "rule": rule,
        "form": form,
        "pinned": _chosen(list(fields.get("pinned_ids") or [])),
        "hidden": _chosen(list(fields.get("hidden_ids") or [])),
        "leftover": leftover + list(alert or []),
        "match_labels": MATCH_LABELS,
        "zone": _zone(),
        "preview": preview,
        "preview_errors": preview_errors or [],
        "status_labels": STATUS_LABELS,
        "confirm": ConfirmForm(),
        **_row_context(rows, errors),
        **search_context("rules"),
    }
    if rule is not None:
        context["current_status"] = rule_status(rule)
        context["history"] = query_entries(
            subject_type=SearchRule.audit_type, subject_id=str(rule.id), limit=20
        )
    return render("console/search/rule_form.html", status=status, **context)


def _stored(rule: SearchRule) -> tuple[RuleForm, dict[str, Any], list[dict[str, str]]]:
    zone = _zone()
    form = RuleForm(
        formdata=None,
        data={
            "query": rule.query,
            "match": rule.match,
            "starts_at": local_input(rule.starts_at, zone),
            "ends_at": local_input(rule.ends_at, zone),
            "enabled": rule.enabled,
            "note": rule.note,
        },
    )
    fields = {"pinned_ids": list(rule.pinned_ids or []), "hidden_ids": list(rule.hidden_ids or [])}
    return form, fields, _stored_rows(rule)


def _save(rule: SearchRule | None) -> Response:
    form, fields, rows = _posted()
    if not form.validate_on_submit():
        return _rule_page(
            rule,
            form,
            fields,
            rows,
            status=422,
            alert=[FORM_EXPIRED],
        )
    try:
        if rule is None:
            saved = create_rule(by=current_user, **fields)
            message = f"Created the rule for “{saved.query}”."
        else:
            saved = update_rule(rule, by=current_user, **fields)
            message = f"Saved the rule for “{saved.query}”."
    except ValidationError as exc:
        return _rule_page(
            rule,
            form,
            fields,
            rows,
            errors=named(exc.errors) or {"form": [exc.message]},
            status=422,
        )
    except CommerceError as exc:
        return _rule_page(rule, form, fields, rows, status=exc.status, alert=[exc.message])
    state = rule_status(saved)
    if state != "active":
        message += f" It is {STATUS_LABELS[state].lower()}: shoppers do not see it yet."
    return done(message, url_for("console.search_rule_detail", rule_id=saved.id))


def search_rule_new() -> Response:
    """A new rule; `?query=...` fills the words in (from search analytics)."""
    if request.method == "POST":
        return _save(None)
    form = RuleForm(
        formdata=None,
        data={"query": request.args.get("query", "")[:120], "match": EXACT, "enabled": True},
    )
    return _rule_page(None, form, {}, [])


def search_rule_detail(rule_id: int) -> Response:
    rule = get_rule(rule_id)
    return _rule_page(rule, *_stored(rule))


def search_rule_save(rule_id: int) -> Response:
    return _save(get_rule(rule_id))


def search_rule_enabled(rule_id: int) -> Response:
    """Switch a rule on or off (`enabled` = 1 or 0) without touching the rest of it."""
    rule = get_rule(rule_id)
    ConfirmForm().validate_on_submit()
    enabled = request.form.get("enabled") == "1"
    update_rule(rule, enabled=enabled, by=current_user)
    verb = "enabled" if enabled else "disabled"
    return done(
        f"The rule for “{rule.query}” is {verb}.",
        url_for("console.search_rule_detail", rule_id=rule.id),
    )


def search_rule_delete(rule_id: int) -> Response:
    rule = get_rule(rule_id)
    ConfirmForm().validate_on_submit()
    query = rule.query
    delete_rule(rule, by=current_user)
    return done(f"Deleted the rule for “{query}”.", url_for("console.search_rules"))


def _form_rule() -> SearchRule | None:
    rule_id = request.form.get("rule_id", "")
    return get_rule(int(rule_id)) if rule_id.isdigit() else None


def search_rule_boosts() -> Response:
    """Add or remove a boost/bury row, or redraw the rows after a condition's field changed
    (its value input depends on it). Reads only."""
    form, fields, rows = _posted()
    op = request.args.get("op", "")
    index = int_arg("index")
    if op == "add" and len(rows) < MAX_BOOSTS:
        rows.append({"effect": "boost", "field": "tag", "value": ""})
    elif op == "remove" and index is not None and index < len(rows):
        rows.pop(index)
    elif op == "field" and index is not None and index < len(rows):
        rows[index]["value"] = ""  # a tag is no collection
    fields["boosts"] = rows
    if is_htmx():
        return render("console/search/_boost_rows.html", **_row_context(rows, {}))
    return _rule_page(_form_rule(), form, fields, rows)


def search_rule_preview() -> Response:
    """The rule's query answered before and after the rule as the form stands (unsaved)."""
    form, fields, rows = _posted()
    rule = _form_rule()
    preview, problems, status = None, [], 200
    try:
        preview = preview_rule(fields, rule_id=rule.id if rule else None, limit=PREVIEW_SIZE)
    except ValidationError as exc:
        messages = [m for ms in exc.errors.values() for m in ms] or [exc.message]
        problems, status = list(dict.fromkeys(messages)), 422
    except CommerceError as exc:
        problems, status = [exc.message], exc.status
    if is_htmx():
        return render(
            "console/search/_preview.html",
            status=status,
            preview=preview,
            preview_errors=problems,
        )
    return _rule_page(
        rule, form, fields, rows, status=status, preview=preview, preview_errors=problems
    )


# -- the product picker -------------------------------------------------------------------------


def _target() -> str:
    target = request.args.get("target", "")
    if target not in PRODUCT_LISTS:
        abort(404)
    return target


def search_rule_pick() -> Response:
    """Products whose title, handle, vendor or SKU contains what was typed, to pin or hide."""
    target = _target()
    query = request.args.get("q", "").strip()[:100]
    found = list_products(ProductFilter(q=query, sort="title", direction="asc"), limit=10)
    return render(
        "console/search/_pick_results.html",
        found=found.items if query else [],
        target=target,
        query=query,
    )


def search_rule_chip() -> Response:
    """One chosen product as a list item carrying its hidden input."""
    target = _target()
    product_id = int_arg("product_id")
    chosen = _chosen([product_id]) if product_id else []
    if not chosen or not product_labels([product_id]):
        abort(404)
    return render(
        "console/search/_product_chip.html",
        target=target,
        product=chosen[0],
        can_edit=True,
    )
