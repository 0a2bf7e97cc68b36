"""Categories (a nested tree) and collections (manual or rule-based)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from commerce.catalog.models import CollectionProduct, Product
from commerce.catalog.queries import ProductFilter, list_products
from commerce.catalog.taxonomy import (
    RULE_FIELDS,
    RULE_OPERATORS,
    add_to_collection,
    category_product_counts,
    category_tree,
    collection_condition,
    create_category,
    create_collection,
    delete_category,
    delete_collection,
    get_category,
    get_collection,
    remove_from_collection,
    update_category,
    update_collection,
)
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.money import parse_amount
from console import bp
from console.forms import CategoryForm, CollectionForm, ConfirmForm
from console.permissions import route
from console.web import apply_errors, done, render, toast

# -- categories ---------------------------------------------------------------------------------


def _parent_choices(exclude: Any = None) -> list[tuple[Any, str]]:
    nodes = category_tree()
    if exclude is not None:
        nodes = [c for c in nodes if not c.path_ids.startswith(exclude.path_ids)]
    return [("", "Top level")] + [(c.id, ("— " * c.depth) + c.name) for c in nodes]


@route(bp, "/categories", permission="catalog.view")
def category_list() -> Any:
    return render(
        "console/taxonomy/categories.html",
        tree=category_tree(),
        counts=category_product_counts(),
        confirm=ConfirmForm(),
    )


@route(bp, "/categories/new", permission="catalog.edit", methods=["GET", "POST"])
def category_new() -> Any:
    form = CategoryForm(parent_id=request.args.get("parent", type=int))
    form.parent_id.choices = _parent_choices()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                category = create_category(
                    name=form.name.data,
                    handle=form.handle.data or None,
                    parent_id=form.parent_id.data,
                    description=form.description.data or "",
                    position=form.position.data,
                    by=current_user,
                )
            except CommerceError as exc:
                apply_errors(form, exc)
            else:
                return done(
                    f"Created category “{category.full_name}”.", url_for("console.category_list")
                )
    return render("console/taxonomy/category_form.html", form=form, category=None, status=status)


@route(bp, "/categories/<int:category_id>", permission="catalog.edit", methods=["GET", "POST"])
def category_edit(category_id: int) -> Any:
    category = get_category(category_id)
    form = CategoryForm(obj=category)
    form.parent_id.choices = _parent_choices(exclude=category)
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                update_category(
                    category,
                    name=form.name.data,
                    handle=form.handle.data or category.handle,
                    parent_id=form.parent_id.data,
                    description=form.description.data or "",
                    position=form.position.data,
                    by=current_user,
                )
            except CommerceError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                return done(
                    f"Saved category “{category.full_name}”.", url_for("console.category_list")
                )
    return render(
        "console/taxonomy/category_form.html",
        form=form,
        category=category,
        status=status,
        confirm=ConfirmForm(),
    )


@route(bp, "/categories/<int:category_id>/delete", permission="catalog.edit", methods=["POST"])
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


def _rules_from_form() -> list[dict[str, Any]]:
    """Rows of rule_field/rule_op/rule_value; price values are typed in major units."""
    rules = []
    fields, ops, values = (request.form.getlist(n) for n in ("rule_field", "rule_op", "rule_value"))
    currency = current_app.config["SHOP_CURRENCY"]
    for index, (field, op, value) in enumerate(zip(fields, ops, values, strict=False)):
        if not field and not value:
            continue
        if field == "price" and value.strip():
            try:
                value = parse_amount(value, currency)
            except ValidationError as exc:
                raise ValidationError(errors={f"rules-{index}": [exc.message]}) from exc
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


@route(bp, "/collections", permission="catalog.view")
def collection_list() -> Any:
    from commerce.catalog.models import Collection

    collections = list(db.session.scalars(select(Collection).order_by(Collection.title)))
    manual_counts = dict(
        db.session.execute(
            select(CollectionProduct.collection_id, func.count()).group_by(
                CollectionProduct.collection_id
            )
        ).all()
    )
    counts = {}
    for c in collections:
        if c.kind == "manual":
            counts[c.id] = manual_counts.get(c.id, 0)
        else:
            counts[c.id] = db.session.scalar(
                select(func.count()).select_from(Product).where(collection_condition(c))
            )
    return render("console/taxonomy/collections.html", collections=collections, counts=counts)


def _save_collection(collection: Any) -> Any:
    form = CollectionForm(obj=collection) if collection is not None else CollectionForm()
    rules: list[dict[str, Any]] = list(collection.rules) if collection is not None else []
    status = 200
    if request.method == "POST":
        status = 422
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
                db.session.rollback()
                leftovers = apply_errors(form, exc)
                rule_errors = {k: v for k, v in leftovers.items() if k.startswith("rules")}
                rules = [
                    {"field": f, "op": o, "value": v}
                    for f, o, v in zip(
                        request.form.getlist("rule_field"),
                        request.form.getlist("rule_op"),
                        request.form.getlist("rule_value"),
                        strict=False,
                    )
                ]
            else:
                return done(
                    message, url_for("console.collection_edit", collection_id=collection.id)
                )
        return render(
            "console/taxonomy/collection_form.html",
            status=status,
            **_collection_form_context(form, collection, rules, rule_errors),
            page=None,
        )
    page = None
    if collection is not None:
        page = list_products(
            ProductFilter(collection_id=collection.id, sort="title", direction="asc"),
            after=request.args.get("after"),
            limit=50,
        )
    return render(
        "console/taxonomy/collection_form.html",
        status=status,
        **_collection_form_context(form, collection, rules),
        page=page,
    )


@route(bp, "/collections/new", permission="catalog.edit", methods=["GET", "POST"])
def collection_new() -> Any:
    return _save_collection(None)


@route(bp, "/collections/<int:collection_id>", permission="catalog.view", methods=["GET"])
def collection_edit(collection_id: int) -> Any:
    return _save_collection(get_collection(collection_id))


@route(
    bp,
    "/collections/<int:collection_id>",
    permission="catalog.edit",
    methods=["POST"],
    endpoint="collection_save",
)
def collection_save(collection_id: int) -> Any:
    return _save_collection(get_collection(collection_id))


@route(bp, "/collections/<int:collection_id>/delete", permission="catalog.edit", methods=["POST"])
def collection_delete(collection_id: int) -> Any:
    collection = get_collection(collection_id)
    ConfirmForm().validate_on_submit()
    title = collection.title
    delete_collection(collection, by=current_user)
    return done(f"Deleted collection “{title}”.", url_for("console.collection_list"))


@route(bp, "/collections/<int:collection_id>/products", permission="catalog.edit", methods=["POST"])
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


@route(bp, "/collections/<int:collection_id>/picker", permission="catalog.edit")
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
