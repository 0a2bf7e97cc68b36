"""Categories (a nested tree) and collections (manual or rule-based)."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from commerce.bounds import check_id
from commerce.catalog import collection_order as merchandising  # `collection_order` is a view
from commerce.catalog.models import Collection, CollectionProduct, Product
from commerce.catalog.queries import ProductFilter, collections_with_counts, list_products
from commerce.catalog.taxonomy import (
    COLLECTION_SORTS,
    RULE_FIELDS,
    RULE_OPERATORS,
    add_to_collection,
    category_product_counts,
    category_tree,
    create_category,
    create_collection,
    delete_category,
    delete_collection,
    describe_rules,
    get_category,
    get_collection,
    remove_from_collection,
    sorts_for,
    update_category,
    update_collection,
)
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.money import parse_amount
from commerce.orders.popularity import with_units_sold
from console.forms import CategoryForm, CollectionForm, ConfirmForm
from console.web import done, toast
from web.forms import apply_errors, form_status, submit
from web.pages import is_htmx, render

# -- categories ---------------------------------------------------------------------------------


def _parent_choices(exclude: Any = None) -> list[tuple[Any, str]]:
    nodes = category_tree()
    if exclude is not None:
        nodes = [c for c in nodes if not c.path_ids.startswith(exclude.path_ids)]
    return [("", "Top level")] + [(c.id, ("— " * c.depth) + c.name) for c in nodes]


def category_list() -> Any:
    return render(
        "console/taxonomy/categories.html",
        tree=category_tree(),
        counts=category_product_counts(),
        confirm=ConfirmForm(),
    )


def category_new() -> Any:
    form = CategoryForm(parent_id=request.args.get("parent", type=int))
    form.parent_id.choices = _parent_choices()
    if request.method == "POST":
        sent = submit(
            form,
            lambda: create_category(
                name=form.name.data,
                handle=form.handle.data or None,
                parent_id=form.parent_id.data,
                description=form.description.data or "",
                position=form.position.data,
                by=current_user,
            ),
        )
        if sent.ok:
            return done(
                f"Created category “{sent.value.full_name}”.", url_for("console.category_list")
            )
    return render(
        "console/taxonomy/category_form.html", form=form, category=None, status=form_status()
    )


def category_edit(category_id: int) -> Any:
    category = get_category(category_id)
    form = CategoryForm(obj=category)
    form.parent_id.choices = _parent_choices(exclude=category)
    if request.method == "POST":
        sent = submit(
            form,
            lambda: update_category(
                category,
                name=form.name.data,
                handle=form.handle.data or category.handle,
                parent_id=form.parent_id.data,
                description=form.description.data or "",
                position=form.position.data,
                by=current_user,
            ),
        )
        if sent.ok:
            return done(f"Saved category “{category.full_name}”.", url_for("console.category_list"))
    return render(
        "console/taxonomy/category_form.html",
        form=form,
        category=category,
        status=form_status(),
        confirm=ConfirmForm(),
    )


def category_delete(category_id: int) -> Any:
    category = get_category(category_id)
    ConfirmForm().validate_on_submit()
    name = category.full_name
    try:
        count = delete_category(category, by=current_user)
    except CommerceError as exc:
        return done(exc.message, url_for("console.category_list"), level="error")
    tail = f" {count} products are now uncategorised." if count else ""
    return done(f"Deleted category “{name}”.{tail}", url_for("console.category_list"))


# -- collections --------------------------------------------------------------------------------


def _rule_rows() -> list[tuple[str, str, str]]:
    """The form's rule rows as typed: a category rule takes its value from the row's category
    picker (rule_category), any other rule from its text box (rule_value)."""
    fields, ops, values, categories = (
        request.form.getlist(n) for n in ("rule_field", "rule_op", "rule_value", "rule_category")
    )
    rows = []
    for index, (field, op, value) in enumerate(zip(fields, ops, values, strict=False)):
        if field == "category" and index < len(categories) and categories[index]:
            value = categories[index]
        rows.append((field, op, value))
    return rows


def _rules_from_form() -> list[dict[str, Any]]:
    """Rows of rule_field/rule_op/rule_value; price values are typed in major units."""
    rules = []
    currency = current_app.config["SHOP_CURRENCY"]
    for index, (field, op, value) in enumerate(_rule_rows()):
        if not field and not value:
            continue
        if field == "price" and value.strip():
            try:
                value = parse_amount(value, currency)
            except ValidationError as exc:
                raise ValidationError(errors={("rules", index): [exc.message]}) from exc
        rules.append({"field": field, "op": op, "value": value})
    return rules


def _collection_form_context(
    form: CollectionForm,
    collection: Any,
    rules: list[dict[str, Any]],
    rule_errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    from commerce.catalog.taxonomy import category_tree as tree

    return {
        "form": form,
        "collection": collection,
        "rules": rules or [{"field": "tag", "op": "equals", "value": ""}],
        "rule_fields": RULE_FIELDS,
        "rule_operators": RULE_OPERATORS,
        "rule_errors": rule_errors or {},
        "categories": tree(),
        "confirm": ConfirmForm(),
    }


def collection_list() -> Any:
    collections, counts = collections_with_counts()
    return render(
        "console/taxonomy/collections.html",
        collections=collections,
        counts=counts,
        rule_text=describe_rules(collections, currency=current_app.config["SHOP_CURRENCY"]),
        sort_labels=COLLECTION_SORTS,
    )


def _save_collection(collection: Any) -> Any:
    form = CollectionForm(obj=collection) if collection is not None else CollectionForm()
    rules: list[dict[str, Any]] = list(collection.rules) if collection is not None else []
    if request.method == "POST":
        rule_errors: dict[str, list[str]] = {}
        if form.validate_on_submit():
            try:
                rules = _rules_from_form()
                fields = dict(
                    title=form.title.data,
                    handle=form.handle.data or None,
                    kind=form.kind.data,
                    match=form.match.data,
                    description=form.description.data or "",
                    rules=rules if form.kind.data == "rule" else [],
                )
                if collection is None:
                    collection = create_collection(by=current_user, **fields)
                    message = f"Created collection “{collection.title}”."
                else:
                    update_collection(collection, by=current_user, **fields)
                    message = f"Saved collection “{collection.title}”."
            except CommerceError as exc:
                leftovers = apply_errors(form, exc, elsewhere=("rules",))
                rule_errors = {k: v for k, v in leftovers.items() if k.startswith("rules")}
                rules = [{"field": f, "op": o, "value": v} for f, o, v in _rule_rows()]
            else:
                return done(
                    message, url_for("console.collection_edit", collection_id=collection.id)
                )
        return render(
            "console/taxonomy/collection_form.html",
            status=form_status(),
            **_collection_form_context(form, collection, rules, rule_errors),
            page=None,
            **(_merch_context(collection) if collection is not None else {}),
        )
    page = None
    merch: dict[str, Any] = {}
    if collection is not None:
        if collection.kind == "rule":
            page = list_products(
                ProductFilter(collection_id=collection.id, sort="title", direction="asc"),
                after=request.args.get("after"),
                limit=50,
            )
        merch = _merch_context(collection, members_page=_page_arg("mpage"))
    return render(
        "console/taxonomy/collection_form.html",
        status=200,
        **_collection_form_context(form, collection, rules),
        page=page,
        **merch,
    )


def collection_new() -> Any:
    return _save_collection(None)


def collection_edit(collection_id: int) -> Any:
    return _save_collection(get_collection(collection_id))


def collection_save(collection_id: int) -> Any:
    return _save_collection(get_collection(collection_id))


def collection_delete(collection_id: int) -> Any:
    collection = get_collection(collection_id)
    ConfirmForm().validate_on_submit()
    title = collection.title
    delete_collection(collection, by=current_user)
    return done(f"Deleted collection “{title}”.", url_for("console.collection_list"))


def collection_products(collection_id: int) -> Any:
    """Add products (by id or SKU/handle search) to a manual collection, or remove them."""
    collection = get_collection(collection_id)
    ConfirmForm().validate_on_submit()
    back = url_for("console.collection_edit", collection_id=collection.id)
    ids = [int(i) for i in request.form.getlist("product_ids") if i.isdigit()]
    try:
        if request.form.get("op") == "remove":
            count = remove_from_collection(collection, ids, by=current_user)
            return done(f"Removed {count} products.", back)
        count = add_to_collection(collection, ids, by=current_user)
    except CommerceError as exc:
        return toast(done(exc.message, back, level="error"), exc.message, level="error")
    return done(f"Added {count} products.", back)


def collection_picker(collection_id: int) -> Any:
    """Search results as checkboxes, for adding products to a manual collection."""
    collection = get_collection(collection_id)
    query = request.args.get("q", "").strip()
    page = (
        list_products(ProductFilter(q=query, sort="title", direction="asc"), limit=20)
        if query
        else None
    )
    present = set(
        db.session.scalars(
            select(CollectionProduct.product_id).where(
                CollectionProduct.collection_id == collection.id
            )
        )
    )
    return render(
        "console/taxonomy/_picker.html", "console/taxonomy/_picker.html", page=page, present=present
    )


# -- collection merchandising: sort, pins, the hand-made order, the shop preview ---------------
#
# The "Products & order" section of a collection's page is made of fragments, each answered on
# its own by an htmx request: #merch-sort, #pins (the pinned products), #members (a manual
# collection's products in order, paged) and #shop-preview. A change answers its fragment with
# a toast and fires `collection-changed`, on which the preview refreshes itself.

MERCH_FRAGMENTS = {
    "sort": "console/taxonomy/_sort.html",
    "pins": "console/taxonomy/_pins.html",
    "members": "console/taxonomy/_members.html",
    "preview": "console/taxonomy/_preview.html",
}
FRAGMENT_IDS = {
    "sort": "merch-sort",
    "pins": "pins",
    "members": "members",
    "preview": "shop-preview",
}
CHANGED = "collection-changed"  # HX-Trigger event: the shop order changed


def _page_arg(name: str) -> int:
    value = (request.values.get(name) or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _merch_context(
    collection: Collection,
    *,
    members_page: int = 1,
    alerts: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Everything the section shows (a fixed handful of queries whatever the collection's size)."""
    pins = merchandising.pinned(collection)
    return {
        "sorts": sorts_for(collection.kind),
        "shop_sort": merchandising.effective_sort(collection),
        "pins": pins,
        "pinned_ids": {p.product_id for p in pins},
        "max_pins": merchandising.MAX_PINS,
        "members": (
            merchandising.members_page(collection, page=members_page)
            if collection.kind == "manual"
            else None
        ),
        "preview": merchandising.shop_preview(collection, sales=with_units_sold),
        "merch_alerts": alerts or {},
        "merch_errors": errors or {},
    }


def _merch_answer(
    collection: Collection,
    fragment: str,
    message: str,
    *,
    level: str = "success",
    status: int = 200,
    members_page: int = 1,
    changed: bool = False,
    alerts: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response:
    """htmx: the changed fragment with a toast (and `collection-changed` if the shop order
    moved). A plain form post: back to the page after a success, the page with its message
    and the same 4xx after a failure."""
    back = url_for(
        "console.collection_edit",
        collection_id=collection.id,
        **({"mpage": members_page} if members_page > 1 else {}),
        _anchor=FRAGMENT_IDS[fragment],
    )
    if not is_htmx():
        if status < 400:
            return done(message, back, level=level)
        return _collection_page(
            collection, status=status, members_page=members_page, alerts=alerts, errors=errors
        )
    context = _merch_context(collection, members_page=members_page, alerts=alerts, errors=errors)
    response = render(
        MERCH_FRAGMENTS[fragment],
        MERCH_FRAGMENTS[fragment],
        status=status,
        collection=collection,
        **context,
    )
    if message:
        toast(response, message, level=level)
    if changed:
        triggers = json.loads(response.headers.get("HX-Trigger") or "{}")
        triggers[CHANGED] = True
        response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


def _collection_page(
    collection: Collection,
    *,
    status: int,
    members_page: int = 1,
    alerts: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response:
    """The whole collection page (a plain form post that failed shows its message in place)."""
    form = CollectionForm(obj=collection, formdata=None)
    page = None
    if collection.kind == "rule":
        page = list_products(
            ProductFilter(collection_id=collection.id, sort="title", direction="asc"), limit=50
        )
    return render(
        "console/taxonomy/collection_form.html",
        status=status,
        **_collection_form_context(form, collection, list(collection.rules or [])),
        page=page,
        **_merch_context(collection, members_page=members_page, alerts=alerts, errors=errors),
    )


def _failure(exc: CommerceError) -> tuple[int, str, dict[str, list[str]]]:
    """(status, message, errors by field) for a refused merchandising change."""
    errors = dict(getattr(exc, "errors", None) or {})
    if not errors and exc.field:
        errors[exc.field] = [exc.message]
    message = exc.message
    if isinstance(exc, ValidationError) and len(errors) == 1:
        message = next(iter(errors.values()))[0]
    return exc.status, message, errors


def collection_sort(collection_id: int) -> Any:
    """Choose the shop's order of the collection (manual, best selling, newest, price, title)."""
    collection = get_collection(collection_id)
    try:
        changed = merchandising.set_collection_sort(
            collection, request.form.get("sort", ""), by=current_user
        )
    except CommerceError as exc:
        status, message, errors = _failure(exc)
        return _merch_answer(
            collection, "sort", message, level="error", status=status, errors=errors
        )
    label = sorts_for(collection.kind)[collection.sort]
    message = f"The shop now sorts “{collection.title}” by {label.lower()}."
    return _merch_answer(collection, "sort", message if changed else "", changed=changed)


def _int_field(name: str, default: int | None) -> Any:
    """A whole number the page itself sent (a hidden field); -1 if it was tampered with."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return default
    return int(raw) if raw.isdigit() else -1


def _position_request() -> tuple[str, Any] | None:
    """A one-product move asked by a row's buttons: ("step", (id, ±1)) or ("to", (id, n))."""
    shift = request.form.get("shift", "")
    if shift:
        pid, _, direction = shift.partition(":")
        return "step", (pid, -1 if direction == "up" else 1)
    move = request.form.get("move", "")
    if move:
        return "to", (move, request.form.get(f"to-{move}", ""))
    if request.form.get("op") == "position":
        # Enter in a position box without scripts: the first box that holds a number.
        for key, value in request.form.items():
            if key.startswith("to-") and value.strip():
                return "to", (key[3:], value)
    return None


def collection_order(collection_id: int) -> Any:
    """Save a manual collection's order: one page of it as dragged (`product_id` in DOM order,
    from rank `start`), or one product moved up, down or to a position."""
    collection = get_collection(collection_id)
    page = _page_arg("page")
    moved = _position_request()
    try:
        if moved is not None:
            kind, (product_id, value) = moved
            found_id = check_id(product_id)  # a huge id would overflow the query
            if found_id is None:
                raise ValidationError("Choose a product of this collection.", field="members")
            product = db.session.get(Product, found_id)
            if kind == "step":
                position = merchandising.move_in_collection(
                    collection, product_id, step=value, by=current_user
                )
            else:
                position = merchandising.move_in_collection(
                    collection, product_id, position=value, by=current_user
                )
            title = product.title if product else "The product"
            message = f"Moved “{title}” to position {position}."
            per_page = merchandising.MEMBERS_PER_PAGE
            if (position - 1) // per_page + 1 != page:
                message += f" It is now on page {(position - 1) // per_page + 1}."
            changed = True
        else:
            start, total = _int_field("start", 0), _int_field("total", None)
            changed = merchandising.reorder_collection(
                collection,
                request.form.getlist("product_id"),
                start=start,
                total=total,
                by=current_user,
            )
            message = "Saved the order." if changed else ""
    except CommerceError as exc:
        status, message, errors = _failure(exc)
        alerts = {"members": message}
        return _merch_answer(
            collection,
            "members",
            message,
            level="error",
            status=status,
            members_page=page,
            alerts=alerts,
            errors=errors,
        )
    return _merch_answer(collection, "members", message, members_page=page, changed=changed)


def collection_members(collection_id: int) -> Any:
    """One page of a manual collection's products in order (the #members fragment)."""
    collection = get_collection(collection_id)
    if collection.kind != "manual":
        return done(
            "Rule-based collections have no hand-made order.",
            url_for("console.collection_edit", collection_id=collection.id),
            level="error",
        )
    page = _page_arg("mpage")
    if not is_htmx():
        return _collection_page(collection, status=200, members_page=page)
    return render(
        MERCH_FRAGMENTS["members"],
        MERCH_FRAGMENTS["members"],
        collection=collection,
        **_merch_context(collection, members_page=page),
    )


def _shifted(order: list[str], shift: str) -> list[str]:
    """`order` with the product of `shift` ("ID:up" / "ID:down") moved one place."""
    pid, _, direction = shift.partition(":")
    if pid not in order:
        return order
    index = order.index(pid)
    target = max(index - 1, 0) if direction == "up" else min(index + 1, len(order) - 1)
    order = [p for p in order if p != pid]
    order.insert(target, pid)
    return order


def collection_pins(collection_id: int) -> Any:
    """Pin products (op=pin, `product_ids`), unpin one (op=unpin), or save the pins' order
    (op=order, `product_id` in DOM order)."""
    collection = get_collection(collection_id)
    op = request.form.get("op", "order")
    try:
        if op == "pin":
            ids = request.form.getlist("product_ids")
            if not ids:
                raise ValidationError("Choose a product to pin.", field="pinned_ids")
            count = merchandising.pin_products(collection, ids, by=current_user)
            message = (
                f"Pinned {count} product{'s' if count != 1 else ''} to the top."
                if count
                else "Already pinned."
            )
            changed = bool(count)
        elif op == "unpin":
            count = merchandising.unpin_products(
                collection, request.form.getlist("product_ids"), by=current_user
            )
            message = "Unpinned; it keeps its place in the collection." if count else ""
            changed = bool(count)
        elif op == "order":
            order = request.form.getlist("product_id")
            shift = request.form.get("shift", "")
            if shift:  # an arrow button without scripts: move it one place
                order = _shifted([str(p) for p in collection.pinned_ids or []], shift)
            changed = merchandising.reorder_pins(collection, order, by=current_user)
            message = "Saved the pinned order." if changed else ""
        else:
            raise ValidationError("Choose pin, unpin or order.", field="op")
    except CommerceError as exc:
        status, message, errors = _failure(exc)
        return _merch_answer(
            collection,
            "pins",
            message,
            level="error",
            status=status,
            alerts={"pins": message},
            errors=errors,
        )
    response = _merch_answer(collection, "pins", message, changed=changed)
    if is_htmx() and changed and collection.kind == "manual":
        # Member rows show which products are pinned.
        triggers = json.loads(response.headers.get("HX-Trigger") or "{}")
        triggers["pins-changed"] = True
        response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


def collection_pin_picker(collection_id: int) -> Any:
    """Products of the collection matching a title, handle or SKU, each with a Pin button."""
    collection = get_collection(collection_id)
    query = request.args.get("q", "").strip()
    page = (
        list_products(
            ProductFilter(q=query, collection_id=collection.id, sort="title", direction="asc"),
            limit=20,
        )
        if query
        else None
    )
    return render(
        "console/taxonomy/_pin_picker.html",
        "console/taxonomy/_pin_picker.html",
        collection=collection,
        page=page,
        query=query,
        pinned_ids=set(collection.pinned_ids or []),
    )


def collection_preview(collection_id: int) -> Any:
    """The first products shoppers see on the collection's page, in the shop's order."""
    collection = get_collection(collection_id)
    pins = set(collection.pinned_ids or [])
    return render(
        MERCH_FRAGMENTS["preview"],
        MERCH_FRAGMENTS["preview"],
        collection=collection,
        preview=merchandising.shop_preview(collection, sales=with_units_sold),
        pinned_ids=pins,
    )
