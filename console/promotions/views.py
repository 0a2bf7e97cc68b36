"""Promotions: the list, the builder (new and edit, rows added and removed with htmx, a live
plain-language summary, messages at the field), coupon codes (one, a generated batch as a job
with a progress bar, CSV export), the simulator, and publish / pause / end now / duplicate /
delete a draft. Every change goes through commerce.promotions.services, which audits it.

Reading needs `promotions.view`, changing `promotions.edit`. The builder's helper endpoints
(rows, summary, picker) read only, but the rows and summary ones take the whole form by POST
(they carry CSRF like every POST).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import StringField

from commerce.audit import query_entries
from commerce.customers.models import Customer
from commerce.db import utcnow
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.jobs import FAILED
from commerce.pricing import CartLine, PricingContext, explain_promotions
from commerce.promotions.code_jobs import codes_job
from commerce.promotions.coupons import add_coupon_code, coupon_codes_csv, remove_coupon_code
from commerce.promotions.models import DRAFT, STATUSES, Promotion
from commerce.promotions.queries import (
    PICK_KINDS,
    PROMOTION_SORTS,
    SELECTOR_LIST,
    VARIANT,
    PromotionFilter,
    code_summary,
    coupon_codes,
    find_items,
    get_coupon_code,
    list_promotions,
    names_for,
    pick_labels,
    row_names,
    status_counts,
)
from commerce.promotions.services import (
    clean_promotion,
    create_promotion,
    delete_promotion,
    duplicate_promotion,
    enable_promotion,
    end_promotion,
    get_promotion,
    pause_promotion,
    shop_timezone,
    update_promotion,
    usage,
)
from commerce.promotions.summary import Names, schedule_text, summarize, summarize_promotion
from commerce.promotions.tasks import start_code_generation
from commerce.shipping.models import ShippingMethod
from console.promotions.form import (
    ACTIONS,
    CONDITIONS,
    GROUPS,
    KIND_LABELS,
    TIER_UNITS,
    PromotionForm,
    Row,
    local_input,
    new_row,
    parse_local,
    parse_rows,
    placed_keys,
    renumber,
    selector_messages,
    service_rows,
    stored_rows,
    tier_messages,
    zone_names,
)
from console.web import done, int_arg, kept_filter_args, toast
from web.forms import FORM_EXPIRED, named
from web.pages import is_htmx, render

VIEW, EDIT = "promotions.view", "promotions.edit"
FILTER_KEYS = ("q", "status", "code", "sort", "dir")
CHANGED = "promotion-changed"  # htmx event: the builder's summary and the simulator refresh


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def status_label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _changed(response: Response) -> Response:
    response.headers["HX-Trigger-After-Settle"] = CHANGED
    return response


# -- the list -----------------------------------------------------------------------------------


def read_filter(args: MultiDict[str, str]) -> tuple[PromotionFilter, dict[str, str]]:
    problems: dict[str, str] = {}
    statuses = tuple(dict.fromkeys(v for v in args.getlist("status") if v))
    if any(s not in STATUSES for s in statuses):
        problems["status"] = "Choose from the list."
        statuses = tuple(s for s in statuses if s in STATUSES)
    code = args.get("code", "").strip()
    if code not in ("", "1", "0"):
        problems["code"] = "Choose yes, no or any."
        code = ""
    flt = PromotionFilter(
        q=args.get("q", ""),
        statuses=statuses,
        has_code={"1": True, "0": False}.get(code),
        sort=args.get("sort", ""),
        direction=args.get("dir", ""),
    ).normalized()
    return flt, problems


def filter_args(args: MultiDict[str, str]) -> dict[str, str | list[str]]:
    return kept_filter_args(args, FILTER_KEYS, ("status",))


def promotion_list() -> Response:
    flt, problems = read_filter(request.args)
    now = utcnow()
    page = list_promotions(
        flt,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
        now=now,
    )
    summaries = {
        row.id: summarize_promotion(row.promotion, currency=_currency(), names=page.names, now=now)
        for row in page.items
    }
    schedules = {
        row.id: schedule_text(
            row.promotion.starts_at, row.promotion.ends_at, row.promotion.timezone, now=now
        )
        for row in page.items
    }
    return render(
        "console/promotions/list.html",
        "console/promotions/_list.html",
        status=422 if problems else 200,
        page=page,
        flt=flt,
        problems=problems,
        args=filter_args(request.args),
        raw=request.args,
        summaries=summaries,
        schedules=schedules,
        counts=status_counts(now),
        statuses=STATUSES,
        status_label=status_label,
        sorts=PROMOTION_SORTS,
        htmx_fragment=is_htmx(),
    )


# -- the builder --------------------------------------------------------------------------------


def _shipping_methods() -> list[tuple[str, str]]:
    methods = db.session.scalars(select(ShippingMethod).order_by(ShippingMethod.name))
    return [(m.code.upper(), m.name) for m in methods]


def _chip_names(conditions: list[Row], actions: list[Row]) -> Names:
    rows, _missing = service_rows([*conditions, *actions], _currency())
    return row_names(rows)


def _summary(
    form: PromotionForm, conditions: list[Row], actions: list[Row], codes: list[str], names: Names
) -> str:
    values = form.header_values()
    zone = values["timezone"] or shop_timezone()
    rows_c, _ = service_rows(conditions, _currency())
    rows_a, _ = service_rows(actions, _currency())

    def number(text: str) -> int | None:
        return int(text) if text.isdigit() and int(text) > 0 else None

    return summarize(
        currency=_currency(),
        conditions=rows_c,
        actions=rows_a,
        match=values["match"],
        starts_at=parse_local(values["starts_at"], zone),
        ends_at=parse_local(values["ends_at"], zone),
        timezone=zone,
        requires_coupon=values["requires_coupon"],
        codes=codes,
        usage_limit=number(values["usage_limit"]),
        usage_limit_per_customer=number(values["usage_limit_per_customer"]),
        usage_limit_per_code=number(values["usage_limit_per_code"]),
        stacking=values["stacking"],
        names=names,
    )


class CodeForm(FlaskForm):
    code = StringField("Code")


class GenerateForm(FlaskForm):
    count = StringField("How many", default="100")
    prefix = StringField("Prefix")
    length = StringField("Random characters", default="8")


def _builder(
    promotion: Promotion | None,
    form: PromotionForm,
    conditions: list[Row],
    actions: list[Row],
    *,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
    alert: list[str] | None = None,
    code_form: CodeForm | None = None,
    generate_form: GenerateForm | None = None,
) -> Response:
    errors = dict(errors or {})
    for name, field in form._fields.items():
        if name in errors:
            field.errors = list(errors[name])
    placed = placed_keys([*conditions, *actions]) | set(form._fields)
    leftover = [m for key, messages in errors.items() if key not in placed for m in messages]
    names = _chip_names(conditions, actions)
    codes = coupon_codes(promotion.id) if promotion is not None else []
    context: dict[str, Any] = {
        "promotion": promotion,
        "form": form,
        "conditions": conditions,
        "actions": actions,
        "errors": errors,
        "leftover": leftover + list(alert or []),
        "names": names,
        "summary": _summary(form, conditions, actions, codes, names),
        "zones": zone_names(),
        "methods": _shipping_methods(),
        "kind_labels": KIND_LABELS,
        "tier_units": TIER_UNITS,
        "status_label": status_label,
        "can_edit": current_user.can(EDIT),
        "tier_messages": tier_messages,
        "selector_messages": selector_messages,
    }
    if promotion is not None:
        now = utcnow()
        context.update(
            current_status=promotion.status_at(now),
            usage=usage([promotion.id]).get(promotion.id),
            codes=code_summary(promotion.id),
            code_form=code_form or CodeForm(formdata=None),
            generate_form=generate_form or GenerateForm(formdata=None),
            history=query_entries(
                subject_type=Promotion.audit_type, subject_id=str(promotion.id), limit=20
            ),
            schedule=schedule_text(promotion.starts_at, promotion.ends_at, promotion.timezone),
        )
    return render("console/promotions/edit.html", status=status, **context)


def _stored_form(promotion: Promotion) -> PromotionForm:
    data = {
        "name": promotion.name,
        "description": promotion.description,
        "starts_at": local_input(promotion.starts_at, promotion.timezone),
        "ends_at": local_input(promotion.ends_at, promotion.timezone),
        "timezone": promotion.timezone,
        "priority": str(promotion.priority),
        "stacking": promotion.stacking,
        "match": promotion.match,
        "requires_coupon": promotion.requires_coupon,
        "usage_limit": str(promotion.usage_limit or ""),
        "usage_limit_per_customer": str(promotion.usage_limit_per_customer or ""),
        "usage_limit_per_code": str(promotion.usage_limit_per_code or ""),
    }
    return PromotionForm(formdata=None, data=data)


def _show(promotion: Promotion, **kw: Any) -> Response:
    currency = _currency()
    return _builder(
        promotion,
        _stored_form(promotion),
        stored_rows(CONDITIONS, promotion.conditions, currency),
        stored_rows(ACTIONS, promotion.actions, currency),
        **kw,
    )


def _posted() -> tuple[PromotionForm, list[Row], list[Row]]:
    return PromotionForm(), parse_rows(request.form, CONDITIONS), parse_rows(request.form, ACTIONS)


def _values(form: PromotionForm, conditions: list[Row], actions: list[Row]) -> tuple[dict, dict]:
    """What the services take, and messages for empty required numbers."""
    values = form.header_values()
    values["conditions"], missing = service_rows(conditions, _currency())
    values["actions"], missing_a = service_rows(actions, _currency())
    return values, {**missing, **missing_a}


def _save(promotion: Promotion | None) -> Response:
    form, conditions, actions = _posted()
    values, missing = _values(form, conditions, actions)
    if not form.validate_on_submit():
        return _builder(
            promotion,
            form,
            conditions,
            actions,
            status=422,
            alert=[FORM_EXPIRED],
        )
    try:
        if missing:
            clean_promotion(values, current=promotion)  # the services' messages too
            raise ValidationError(errors=missing)
        if promotion is None:
            saved = create_promotion(by=current_user, **values)
            message = f"Created “{saved.name}” as a draft: publish it when it is ready."
        else:
            saved = update_promotion(promotion, by=current_user, **values)
            message = f"Saved “{saved.name}”."
    except ValidationError as exc:
        errors = {**named(exc.errors), **missing}
        if not errors:
            errors = {"form": [exc.message]}
        return _builder(promotion, form, conditions, actions, errors=errors, status=422)
    except CommerceError as exc:
        return _builder(
            promotion, form, conditions, actions, status=exc.status, alert=[exc.message]
        )
    return done(message, url_for("console.promotion_detail", promotion_id=saved.id))


def promotion_new() -> Response:
    if request.method == "POST":
        return _save(None)
    form = PromotionForm(formdata=None, data={"timezone": shop_timezone()})
    return _builder(None, form, [], [new_row(ACTIONS, 0, None)])


def promotion_detail(promotion_id: int) -> Response:
    return _show(get_promotion(promotion_id))


def promotion_save(promotion_id: int) -> Response:
    return _save(get_promotion(promotion_id))


def promotion_rows(group: str) -> Response:
    """Add, remove or re-kind a row (or a tier) and answer the group's rows (htmx) or the
    whole builder (a plain form post). Reads only."""
    if group not in GROUPS:
        abort(404)
    form, conditions, actions = _posted()
    rows = conditions if group == CONDITIONS else actions
    op = request.args.get("op", "")
    index = int_arg("index")
    row = rows[index] if index is not None and index < len(rows) else None
    if op == "add":
        rows.append(new_row(group, len(rows), request.form.get(f"new-{group}-kind")))
    elif op == "remove" and row is not None:
        rows.remove(row)
        renumber(rows)
    elif op == "add_tier" and row is not None:
        row.values.setdefault("tiers", []).append({"threshold": "", "value": "", "unit": "amount"})
    elif op == "remove_tier" and row is not None:
        tier = int_arg("tier")
        tiers = row.values.get("tiers") or []
        if tier is not None and tier < len(tiers):
            tiers.pop(tier)
    elif op == "kind" and row is not None:
        fresh = new_row(group, row.index, row.kind)
        for key, value in fresh.values.items():
            if not row.values.get(key):
                row.values[key] = value
    if is_htmx():
        response = render(
            "console/promotions/_rows.html",
            group=group,
            rows=rows,
            errors={},
            names=_chip_names(conditions, actions),
            methods=_shipping_methods(),
            kind_labels=KIND_LABELS,
            tier_units=TIER_UNITS,
            can_edit=True,
            tier_messages=tier_messages,
            selector_messages=selector_messages,
        )
        return _changed(response)
    promotion = _form_promotion()
    return _builder(promotion, form, conditions, actions)


def _form_promotion() -> Promotion | None:
    promotion_id = request.form.get("promotion_id", "")
    return get_promotion(promotion_id) if promotion_id.isdigit() else None


def promotion_summary() -> Response:
    """The live summary of the builder's form as it stands."""
    form, conditions, actions = _posted()
    promotion = _form_promotion()
    codes = coupon_codes(promotion.id) if promotion is not None else []
    text = _summary(form, conditions, actions, codes, _chip_names(conditions, actions))
    return render("console/promotions/_summary.html", summary=text)


# -- pickers ------------------------------------------------------------------------------------

SHAPES = ("items", "variant", "line")


def _pick_args() -> tuple[str, str]:
    target = request.args.get("target", "")[:80]
    shape = request.args.get("shape", "items")
    if shape not in SHAPES:
        abort(404)
    return target, shape


def promotion_pick() -> Response:
    """Matches for what was typed in a picker, each with buttons that add it."""
    target, shape = _pick_args()
    kinds = tuple(k for k in request.args.get("kinds", "").split(",") if k in PICK_KINDS)
    if shape != "items":
        kinds = (VARIANT,)
    found = find_items(request.args.get("q", ""), kinds=kinds or PICK_KINDS)
    return render(
        "console/promotions/_pick_results.html",
        found=found,
        target=target,
        shape=shape,
        query=request.args.get("q", "").strip(),
    )


def promotion_chip() -> Response:
    """One chosen item as a chip carrying its hidden input."""
    target, shape = _pick_args()
    kind = request.args.get("kind", "")
    value = request.args.get("value", "").strip()
    if kind not in PICK_KINDS or not value:
        abort(404)
    label = pick_labels(kind, [value]).get(value)
    if label is None:
        abort(404)
    exclude = request.args.get("mode") == "exclude"
    list_name = ("exclude_" if exclude else "") + SELECTOR_LIST[kind]
    response = render(
        "console/promotions/_chip.html",
        target=target,
        shape=shape,
        kind=kind,
        value=value,
        label=label,
        exclude=exclude,
        list_name=list_name,
    )
    return _changed(response)


# -- state changes ------------------------------------------------------------------------------


def _state_change(promotion_id: int, verb: Any, message: str) -> Response:
    promotion = get_promotion(promotion_id)
    try:
        verb(promotion, by=current_user)
    except ValidationError as exc:
        messages = [m for ms in exc.errors.values() for m in ms] or [exc.message]
        return _show(promotion, status=422, alert=[exc.message, *messages])
    except CommerceError as exc:
        return _show(promotion, status=exc.status, alert=[exc.message])
    return done(
        message.format(name=promotion.name),
        url_for("console.promotion_detail", promotion_id=promotion.id),
    )


def promotion_publish(promotion_id: int) -> Response:
    return _state_change(promotion_id, enable_promotion, "“{name}” is published.")


def promotion_pause(promotion_id: int) -> Response:
    return _state_change(promotion_id, pause_promotion, "“{name}” is paused.")


def promotion_end(promotion_id: int) -> Response:
    return _state_change(promotion_id, end_promotion, "“{name}” has ended.")


def promotion_duplicate(promotion_id: int) -> Response:
    promotion = get_promotion(promotion_id)
    try:
        copy = duplicate_promotion(promotion, by=current_user)
    except CommerceError as exc:
        return _show(promotion, status=exc.status, alert=[exc.message])
    return done(
        f"Duplicated as “{copy.name}” (a draft).",
        url_for("console.promotion_detail", promotion_id=copy.id),
    )


def promotion_delete(promotion_id: int) -> Response:
    promotion = get_promotion(promotion_id)
    name = promotion.name
    if promotion.state != DRAFT:
        return _show(
            promotion,
            status=409,
            alert=["Only a draft can be deleted: end this promotion instead."],
        )
    try:
        delete_promotion(promotion, by=current_user)
    except CommerceError as exc:
        return _show(promotion, status=exc.status, alert=[exc.message])
    return done(f"Deleted “{name}”.", url_for("console.promotion_list"))


# -- coupon codes -------------------------------------------------------------------------------


def _codes_url(promotion: Promotion) -> str:
    return url_for("console.promotion_detail", promotion_id=promotion.id) + "#codes"


def promotion_code_add(promotion_id: int) -> Response:
    promotion = get_promotion(promotion_id)
    form = CodeForm()
    try:
        coupon = add_coupon_code(promotion, code=form.code.data, by=current_user)
    except CommerceError as exc:
        form.code.errors = list(getattr(exc, "errors", {}).get("code") or [exc.message])
        return _show(promotion, status=exc.status, code_form=form)
    return done(f"Added the code {coupon.code}.", _codes_url(promotion))


def promotion_code_remove(promotion_id: int, code_id: int) -> Response:
    promotion = get_promotion(promotion_id)
    coupon = get_coupon_code(promotion.id, code_id)
    code = coupon.code
    try:
        remove_coupon_code(coupon, by=current_user)
    except CommerceError as exc:
        return _show(promotion, status=exc.status, alert=[exc.message])
    return done(f"Removed the code {code}.", _codes_url(promotion))


def promotion_codes_generate(promotion_id: int) -> Response:
    """Generate a batch of codes as a background job; its progress bar takes the form's place."""
    promotion = get_promotion(promotion_id)
    form = GenerateForm()
    try:
        job = start_code_generation(
            promotion,
            count=form.count.data,
            prefix=form.prefix.data,
            length=form.length.data,
            by=current_user,
        )
    except ValidationError as exc:
        for name, messages in exc.errors.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = list(messages)
        if is_htmx():
            return render(
                "console/promotions/_codes_generate.html",
                status=422,
                promotion=promotion,
                generate_form=form,
            )
        return _show(promotion, status=422, generate_form=form)
    level = "error" if job.status == FAILED else "success"
    message = job.message or f"{job.title}: generating…"
    if is_htmx():
        response = render("console/promotions/_codes_job.html", promotion=promotion, job=job)
        return toast(response, message, level=level)
    flash(message, level)
    return redirect(
        url_for("console.promotion_codes_job", promotion_id=promotion.id, job_id=job.id), code=303
    )


def promotion_codes_job(promotion_id: int, job_id: str) -> Response:
    promotion = get_promotion(promotion_id)
    job = codes_job(job_id, promotion.id)
    return render(
        "console/promotions/codes_job.html",
        "console/promotions/_codes_job.html",
        promotion=promotion,
        job=job,
    )


def promotion_codes_csv(promotion_id: int) -> Response:
    promotion = get_promotion(promotion_id)
    batch = request.args.get("batch", "").strip()[:40] or None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    name = f"promotion-{promotion.id}-codes{'-' + batch if batch else ''}-{stamp}.csv"
    response = Response(
        stream_with_context(coupon_codes_csv(promotion, batch=batch)), mimetype="text/csv"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the simulator ------------------------------------------------------------------------------


def _read_simulation(args: MultiDict[str, str]) -> tuple[list[CartLine], PricingContext, dict]:
    problems: dict[str, str] = {}
    lines: list[CartLine] = []
    for variant, quantity in zip(args.getlist("variant"), args.getlist("quantity"), strict=False):
        if not variant.isdigit():
            continue
        if not quantity.strip().isdigit() or not 1 <= int(quantity) <= 10_000:
            problems["quantity"] = "Quantities are whole numbers from 1 to 10,000."
            continue
        lines.append(CartLine(int(variant), int(quantity)))
    email = args.get("email", "").strip().lower()
    customer = None
    if email:
        customer = db.session.scalar(
            select(Customer).where(Customer.email == email, Customer.is_active.is_(True))
        )
    country = args.get("country", "").strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        problems["country"] = "Enter a two-letter country code, e.g. GB."
        country = ""
    now = None
    at = args.get("at", "").strip()
    if at:
        moment = parse_local(at, current_app.config["SHOP_TIMEZONE"])
        if moment is None:
            problems["at"] = "Enter a date and time."
        else:
            now = moment.astimezone(UTC).replace(tzinfo=None)
    from commerce.checkout.services import first_order

    context = PricingContext(
        country=country or None,
        shipping_method_code=args.get("shipping", "").strip().upper() or None,
        customer_id=customer.id if customer is not None else None,
        email=email or None,
        coupon_codes=tuple(c for c in [args.get("code", "").strip()] if c),
        customer_tags=tuple(
            t.strip().lower() for t in args.get("tags", "").split(",") if t.strip()
        ),
        first_order=first_order(customer.id if customer else None, email) if email else None,
        now=now,
    )
    return lines, context, {"problems": problems, "customer": customer}


def promotion_simulator() -> Response:
    """Price a test cart as the shop would and say, for every promotion, whether it applied
    and by how much, or why not."""
    lines, context, found = _read_simulation(request.args)
    simulation = explain_promotions(lines, context)
    names = names_for({"variants": [line.variant_id for line in lines]})
    return render(
        "console/promotions/simulator.html",
        "console/promotions/_simulation.html",
        status=422 if found["problems"] else 200,
        simulation=simulation,
        lines=lines,
        names=names,
        problems=found["problems"],
        customer=found["customer"],
        raw=request.args,
        methods=_shipping_methods(),
        highlight=int_arg("promotion"),
        status_label=status_label,
        hx_fragment=is_htmx(),
    )
