"""Products: the dense list with filters and bulk actions, the editor, inline variant cells."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, current_app, make_response, redirect, request, url_for
from flask_login import current_user

from commerce.catalog.bulk_edit import read_amount
from commerce.catalog.bulk_prices import change_prices, preview_price_change
from commerce.catalog.bundles import components_of
from commerce.catalog.models import Product, Variant
from commerce.catalog.queries import (
    SORTS,
    ProductFilter,
    filtered_products,
    list_products,
    popular_tags,
    product_changes,
    vendors,
)
from commerce.catalog.services import (
    add_variant,
    bulk_update_products,
    create_product,
    delete_product,
    delete_variant,
    generate_variants,
    get_product,
    get_variant,
    product_collection_ids,
    set_options,
    update_product,
    update_variant,
)
from commerce.catalog.taxonomy import category_tree
from commerce.errors import CommerceError, Conflict, ValidationError
from commerce.extensions import db
from commerce.money import format_amount_plain, parse_amount
from console import bp
from console.forms import (
    BulkForm,
    ConfirmForm,
    MediaUploadForm,
    NewProductForm,
    OptionsForm,
    ProductForm,
    VariantForm,
)
from console.web import done, form_error_summary, int_arg, toast
from web.forms import apply_errors, form_status, submit
from web.pages import is_htmx, render

INLINE_FIELDS = {
    "price": "Price",
    "compare_at_price": "Compare-at price",
    "sku": "SKU",
    "barcode": "Barcode",
    "weight_grams": "Weight (g)",
}


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def _category_choices(blank: str = "No category") -> list[tuple[Any, str]]:
    return [("", blank)] + [(c.id, ("— " * c.depth) + c.name) for c in category_tree()]


def _collections() -> list[Any]:
    from sqlalchemy import select

    from commerce.catalog.models import Collection

    return list(db.session.scalars(select(Collection).order_by(Collection.title)))


# -- the list -----------------------------------------------------------------------------------


def read_filter() -> tuple[ProductFilter, dict[str, str]]:
    """The list's filter state from the URL; bad values are reported at their field."""
    args = request.args
    problems: dict[str, str] = {}
    prices: dict[str, int | None] = {}
    for name in ("price_min", "price_max"):
        text = args.get(name, "").strip()
        prices[name] = None
        if text:
            try:
                prices[name] = parse_amount(text, _currency(), field=name)
                if prices[name] < 0:
                    raise ValidationError("Cannot be negative.", field=name)
            except ValidationError as exc:
                problems[name] = exc.message
                prices[name] = None
    flt = ProductFilter(
        q=args.get("q", ""),
        status=args.get("status", ""),
        category_id=int_arg("category"),
        collection_id=int_arg("collection"),
        vendor=args.get("vendor", ""),
        tag=args.get("tag", ""),
        price_min=prices["price_min"],
        price_max=prices["price_max"],
        sort=args.get("sort", ""),
        direction=args.get("dir", ""),
    ).normalized()
    return flt, problems


def _list_context(flt: ProductFilter, problems: dict[str, str]) -> dict[str, Any]:
    page = list_products(
        flt,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    args = {k: v for k, v in request.args.items() if v and k not in ("after", "before")}
    return {
        "page": page,
        "flt": flt,
        "problems": problems,
        "args": args,
        "sorts": SORTS,
        "bulk": BulkForm(),
        "categories": _category_choices("Any category"),
    }


def product_list() -> Any:
    flt, problems = read_filter()
    context = _list_context(flt, problems)
    context.update(vendors=vendors(), tags=popular_tags(), collections=_collections())
    status = 422 if problems else 200
    return render(
        "console/catalog/list.html", "console/catalog/_list.html", status=status, **context
    )


def _selected_ids() -> list[int]:
    """The ticked rows, or every product matching the filter when 'select all' was chosen."""
    if request.form.get("select_all_matching") == "1":
        flt, _ = read_filter()
        from sqlalchemy import select

        ids_stmt = filtered_products(flt).with_only_columns(Product.id).order_by(None)
        return list(db.session.scalars(select(ids_stmt.subquery().c.id)))
    ids = []
    for raw in request.form.getlist("ids"):
        if not raw.isdigit():
            raise ValidationError("The selection is not valid; reload the list.", field="ids")
        ids.append(int(raw))
    return ids


def _bulk_kept(form: BulkForm, exc: CommerceError) -> dict[str, Any]:
    """What the refused bulk form held, so the answer keeps it and marks the wrong field."""
    return {
        "action": form.action.data or "",
        "tag": form.tag.data or "",
        "price_value": form.price_value.data or "",
        "ids": {int(raw) for raw in request.form.getlist("ids") if raw.isdigit()},
        "field": exc.field or "",
    }


def _price_change_input(form: BulkForm) -> tuple[Decimal | None, int | None]:
    """The bulk price change's percentage or amount (an amount read as the bulk editor reads
    money: a decimal comma is refused, not guessed)."""
    text = (form.price_value.data or "").strip()
    if form.price_mode.data == "percent":
        try:
            percent = Decimal(text.rstrip("%"))
        except InvalidOperation:
            raise ValidationError(
                "Enter a percentage like 10 or -15.", field="price_value"
            ) from None
        if not percent.is_finite():
            raise ValidationError("Enter a percentage like 10 or -15.", field="price_value")
        return percent, None
    if text.startswith("+"):
        text = text[1:]
    return None, read_amount(text, _currency(), field="price_value")


def _open_grid() -> Any:
    """The ticked products (or all matching the filter) in the bulk editor: a full page load,
    so the grid's script and styles come with it."""
    if request.form.get("select_all_matching") == "1":
        target = url_for("console.bulk_grid", **request.args)
    else:
        ids = _selected_ids()
        if not ids:
            raise ValidationError("Select at least one product.", field="ids")
        target = url_for("console.bulk_grid", products=",".join(str(i) for i in ids))
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def _change_price(form: BulkForm) -> Any:
    """The bulk price change in two steps: the first answers what would change (how many
    variants, by how much) and asks to confirm; the confirmed post applies it as one bulk edit
    batch (undoable; a job when large) and opens that batch."""
    percent, amount = _price_change_input(form)
    rounding = request.form.get("rounding", "")
    compare_at = request.form.get("compare_at") == "1"
    ids = _selected_ids()
    if request.form.get("confirmed") != "1":
        preview = preview_price_change(
            ids, percent=percent, amount=amount, rounding=rounding, compare_at=compare_at
        )
        flt, problems = read_filter()
        confirm = {
            "sentence": preview.sentence,
            "changes": preview.changes[:8],
            "more": max(len(preview.changes) - 8, 0),
            "count": preview.variants + preview.compare_at_changes,
            "currency": preview.currency,
            "fields": {
                "action": "change_price",
                "price_mode": form.price_mode.data or "percent",
                "price_value": form.price_value.data or "",
                "rounding": rounding,
                "compare_at": "1" if compare_at else "",
                "select_all_matching": request.form.get("select_all_matching", ""),
            },
            "ids": [] if request.form.get("select_all_matching") == "1" else ids,
        }
        return render(
            "console/catalog/list.html",
            "console/catalog/_list.html",
            price_confirm=confirm,
            **_list_context(flt, problems),
            **(
                {}
                if is_htmx()
                else {"vendors": vendors(), "tags": popular_tags(), "collections": _collections()}
            ),
        )
    batch = change_prices(
        ids,
        by=current_user,
        percent=percent,
        amount=amount,
        rounding=rounding,
        compare_at=compare_at,
    )
    target = url_for("console.bulk_edit_detail", batch_id=batch.id)
    if batch.job_id:
        return done(f"Changing {batch.variant_count} variants' prices in the background…", target)
    return done(f"{batch.title}: {batch.message} You can undo it here.", target)


def product_bulk() -> Any:
    form = BulkForm()
    form.category_id.choices = _category_choices()
    back = url_for("console.product_list", **request.args)
    try:
        if not form.validate_on_submit():
            raise ValidationError("Choose a bulk action.", field="action")
        if form.action.data == "open_grid":
            return _open_grid()
        if form.action.data == "change_price":
            return _change_price(form)
        result = bulk_update_products(
            _selected_ids(),
            action=form.action.data,
            by=current_user,
            tag=form.tag.data,
            category_id=form.category_id.data,
        )
    except CommerceError as exc:
        message = form_error_summary(exc)
        if is_htmx():
            flt, problems = read_filter()
            response = render(
                "console/catalog/_list.html",
                "console/catalog/_list.html",
                status=422,
                bulk_error=message,
                bulk_kept=_bulk_kept(form, exc),
                **_list_context(flt, problems),
            )
            return toast(response, message, level="error")
        return done(message, back, level="error")
    if is_htmx():
        flt, problems = read_filter()
        response = render(
            "console/catalog/_list.html",
            "console/catalog/_list.html",
            **_list_context(flt, problems),
        )
        return toast(response, result.message)
    return done(result.message, back)


# -- create and edit ----------------------------------------------------------------------------


def product_new() -> Any:
    form = NewProductForm()
    form.category_id.choices = _category_choices()
    if request.method == "POST":
        sent = submit(
            form,
            lambda: create_product(
                **form.product_fields(),
                handle=form.handle.data or None,
                by=current_user,
                price=form.price.amount,
                compare_at_price=form.compare_at_price.amount,
                sku=form.sku.data,
                barcode=form.barcode.data,
                weight_grams=form.weight_grams.data,
                collection_ids=request.form.getlist("collection_ids"),
            ),
        )
        if sent.ok:
            return done(
                f"Created “{sent.value.title}”.",
                url_for("console.product_edit", product_id=sent.value.id),
            )
    return render(
        "console/catalog/new.html",
        form=form,
        collections=_collections(),
        selected_collections=[
            int(c) for c in request.form.getlist("collection_ids") if c.isdigit()
        ],
        status=form_status(),
    )


def _editor_context(
    product: Product, form: ProductForm | None = None, **extra: Any
) -> dict[str, Any]:
    if form is None:
        form = ProductForm(obj=product, formdata=None)
        form.tags.data = ", ".join(product.tags)
    form.category_id.choices = _category_choices()
    options_form = extra.pop("options_form", None) or OptionsForm(formdata=None)
    if "options_form" not in extra and not options_form.option1_name.data:
        for i, option in enumerate(product.options, start=1):
            getattr(options_form, f"option{i}_name").data = option.name
            getattr(options_form, f"option{i}_values").data = ", ".join(option.values)
    return {
        "product": product,
        "form": form,
        "options_form": options_form,
        "variant_form": extra.pop("variant_form", None) or VariantForm(formdata=None),
        "media_form": MediaUploadForm(formdata=None),
        "confirm": ConfirmForm(),
        "collections": _collections(),
        "selected_collections": extra.pop("selected_collections", None)
        or product_collection_ids(product),
        "history": product_changes(product, limit=20),
        "inline_fields": INLINE_FIELDS,
        "can_edit": current_user.can("catalog.edit"),
        "bundle_ids": set(components_of(v.id for v in product.variants)),
        **extra,
    }


def product_edit(product_id: int) -> Any:
    product = get_product(product_id)
    return render("console/catalog/edit.html", **_editor_context(product))


def product_save(product_id: int) -> Any:
    product = get_product(product_id)
    form = ProductForm()
    form.category_id.choices = _category_choices()
    collection_ids = [int(c) for c in request.form.getlist("collection_ids") if c.isdigit()]
    message = "Not saved: please correct the highlighted fields."
    if form.validate_on_submit():
        try:
            update_product(
                product,
                by=current_user,
                handle=form.handle.data or product.handle,
                collection_ids=collection_ids,
                **form.product_fields(),
            )
        except CommerceError as exc:
            apply_errors(form, exc)
            if not isinstance(exc, ValidationError):  # e.g. the database busy: say that
                message = f"Not saved: {exc.message}"
        else:
            return done(
                f"Saved “{product.title}”.", url_for("console.product_edit", product_id=product.id)
            )
    response = render(
        "console/catalog/edit.html",
        status=422,
        **_editor_context(product, form, selected_collections=collection_ids),
    )
    return toast(response, message, level="error")


def product_delete(product_id: int) -> Any:
    product = get_product(product_id)
    ConfirmForm().validate_on_submit()
    title = product.title
    try:
        delete_product(product, by=current_user)
    except Conflict as exc:  # records elsewhere keep it: stay on the product and say why
        back = url_for("console.product_edit", product_id=product_id)
        if is_htmx():
            return toast(make_response("", 409), exc.message, level="error")
        return done(exc.message, back, level="error")
    return done(f"Deleted “{title}”.", url_for("console.product_list"))


def product_history(product_id: int) -> Any:
    product = get_product(product_id)
    entries = product_changes(product, before_id=int_arg("before"), limit=50)
    return render(
        "console/catalog/history.html",
        "console/catalog/_history.html",
        product=product,
        history=entries,
    )


# -- options and variants -----------------------------------------------------------------------


def _variants_response(
    product: Product,
    *,
    status: int = 200,
    message: str | None = None,
    level: str = "success",
    **extra: Any,
) -> Any:
    response = render(
        "console/catalog/_variants.html",
        "console/catalog/_variants.html",
        status=status,
        **_editor_context(product, **extra),
    )
    return toast(response, message, level=level) if message else response


def _variants_result(
    product: Product, message: str, *, level: str = "success", status: int = 200, **forms: Any
) -> Any:
    """htmx gets the variants section and a toast; a plain form post the editor page (with the
    invalid form, 422) or a redirect back to it."""
    if is_htmx():
        return _variants_response(product, status=status, message=message, level=level, **forms)
    if status >= 400 and forms:
        return render(
            "console/catalog/edit.html", status=status, **_editor_context(product, **forms)
        )
    return _back_to_editor(product, message, level=level)


def _back_to_editor(product: Product, message: str, *, level: str = "success") -> Any:
    return done(
        message, url_for("console.product_edit", product_id=product.id) + "#variants", level=level
    )


def product_options(product_id: int) -> Any:
    product = get_product(product_id)
    form = OptionsForm()
    try:
        if not form.validate_on_submit():
            raise ValidationError("Check the option fields.")
        set_options(product, form.options(), by=current_user)
        created = (
            generate_variants(product, by=current_user)
            if request.form.get("generate") and product.options
            else []
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        return _variants_result(
            product, form_error_summary(exc), level="error", status=422, options_form=form
        )
    message = "Options saved." + (f" {len(created)} variants created." if created else "")
    return _variants_result(product, message)


def variants_generate(product_id: int) -> Any:
    product = get_product(product_id)
    ConfirmForm().validate_on_submit()
    try:
        created = generate_variants(product, by=current_user)
    except CommerceError as exc:
        return _variants_result(product, exc.message, level="error", status=422)
    message = (
        f"{len(created)} variants created."
        if created
        else "Every combination already has a variant."
    )
    return _variants_result(product, message)


def variant_add(product_id: int) -> Any:
    product = get_product(product_id)
    form = VariantForm()
    options = [request.form.get(f"option{i}", "") for i in range(1, len(product.options) + 1)]
    try:
        if not form.validate_on_submit():
            raise ValidationError(errors={k: list(v) for k, v in form.errors.items()})
        add_variant(
            product,
            by=current_user,
            sku=form.sku.data,
            barcode=form.barcode.data,
            price=form.price.amount,
            compare_at_price=form.compare_at_price.amount,
            weight_grams=form.weight_grams.data,
            options=options,
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        return _variants_result(
            product, form_error_summary(exc), level="error", status=422, variant_form=form
        )
    return _variants_result(product, "Variant added.")


def variant_delete(variant_id: int) -> Any:
    variant = get_variant(variant_id)
    product = variant.product
    ConfirmForm().validate_on_submit()
    try:
        delete_variant(variant, by=current_user)
    except CommerceError as exc:
        return _variants_result(product, exc.message, level="error", status=422)
    return _variants_result(product, "Variant deleted.")


def _cell_text(variant: Variant, field: str) -> str:
    value = getattr(variant, field)
    if value is None:
        return ""
    if field in ("price", "compare_at_price"):
        return format_amount_plain(value, variant.currency)
    return str(value)


def _parse_cell(field: str, raw: str, currency: str) -> Any:
    raw = (raw or "").strip()
    if field in ("price", "compare_at_price"):
        if not raw:
            if field == "price":
                raise ValidationError("Enter a price.", field=field)
            return None
        return parse_amount(raw, currency, field=field)
    if field == "weight_grams":
        if not raw:
            return None
        if not raw.lstrip("-").isdigit():
            raise ValidationError("Enter whole grams.", field=field)
        return int(raw)
    return raw


def _cell(
    variant: Variant,
    field: str,
    *,
    editing: bool,
    value: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
    can_edit: bool = True,
) -> Any:
    """One cell of the variants table, shown or as an input (with its messages)."""
    return render(
        "console/catalog/_cell.html",
        "console/catalog/_cell.html",
        status=status,
        variant=variant,
        field=field,
        editing=editing,
        value=_cell_text(variant, field) if value is None else value,
        label=INLINE_FIELDS[field],
        errors=errors or [],
        can_edit=can_edit,
    )


def variant_cell(variant_id: int, field: str) -> Any:
    """A cell of the variants table; `?edit=1` returns it as an input (needs catalog.edit)."""
    if field not in INLINE_FIELDS:
        abort(404)
    variant = get_variant(variant_id)
    editing = request.args.get("edit") == "1"
    if editing and not current_user.can("catalog.edit"):
        abort(403)
    if not is_htmx():  # a cell is not a page: show it in its editor
        return redirect(
            url_for("console.product_edit", product_id=variant.product_id) + "#variants"
        )
    return _cell(variant, field, editing=editing, can_edit=current_user.can("catalog.edit"))


def variant_cell_save(variant_id: int, field: str) -> Any:
    if field not in INLINE_FIELDS:
        abort(404)
    variant = get_variant(variant_id)
    raw = request.form.get("value", "")
    try:
        value = _parse_cell(field, raw, variant.currency)
        update_variant(variant, by=current_user, **{field: value})
    except CommerceError as exc:
        errors = getattr(exc, "errors", None) or {field: [exc.message]}
        messages = errors.get(field) or [m for ms in errors.values() for m in ms]
        if not is_htmx():
            return render(
                "console/catalog/edit.html",
                status=422,
                **_editor_context(
                    variant.product,
                    variants_error=f"{INLINE_FIELDS[field]} not saved: {messages[0]}",
                ),
            )
        response = _cell(variant, field, editing=True, value=raw, errors=messages, status=422)
        return toast(response, f"{INLINE_FIELDS[field]} not saved: {messages[0]}", level="error")
    if not is_htmx():
        return done(
            f"{INLINE_FIELDS[field]} saved.",
            url_for("console.product_edit", product_id=variant.product_id),
        )
    response = _cell(variant, field, editing=False)
    response.headers["HX-Trigger-After-Swap"] = '{"variantsChanged": true}'
    return toast(response, f"{variant.sku or variant.title}: {INLINE_FIELDS[field].lower()} saved.")


@bp.app_template_global("money_input")
def _money_input(amount: int | None) -> str:
    return "" if amount is None else format_amount_plain(amount, _currency())
