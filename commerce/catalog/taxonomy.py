"""Categories (a nested tree) and collections (manual or rule-based)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, false, func, or_, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from commerce import audit, outbox
from commerce.bounds import MAX_DESCRIPTION, MAX_POSITION, check_id, check_int, check_length
from commerce.catalog.models import (
    ACTIVE,
    Category,
    Collection,
    CollectionProduct,
    Product,
    ProductTag,
)
from commerce.catalog.services import free_handle
from commerce.catalog.text import check_handle, handle_from
from commerce.db import service, transaction, utcnow
from commerce.errors import DuplicateValue, ErrorPath, NotFound, StaleVersion, ValidationError
from commerce.extensions import db

MAX_DEPTH = 6
# Outbox topics: search refreshes the documents of the products whose category path or
# collections changed (payload: the active products' ids, or "all" for very many).
CATEGORY_CHANGED, COLLECTION_CHANGED = "category.changed", "collection.changed"
MAX_EVENT_PRODUCTS = 20000
# Outbox topics: what the shop shows of a category or collection itself changed (its name,
# place in the tree, position, description; a collection's members, order or pins), whether
# or not any product's search document did. The edge cache purges the pages showing it.
CATEGORY_UPDATED, COLLECTION_UPDATED = "category.updated", "collection.updated"


def _members_changed(topic: str, key: str, subject_id: int, product_ids: Any) -> None:
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        return
    payload: dict[str, Any] = {key: subject_id}
    if len(ids) > MAX_EVENT_PRODUCTS:
        payload["all"] = True
    else:
        payload["product_ids"] = ids
    outbox.enqueue(topic, payload)


def _category_updated(category: Category, *, paths: Sequence[str], top_level: bool) -> None:
    """`paths`: where the category was and is in the tree; `top_level`: it is or was in the
    shop's navigation."""
    outbox.enqueue(
        CATEGORY_UPDATED,
        {
            "category_id": category.id,
            "paths": sorted({p for p in paths if p}),
            "top_level": bool(top_level),
        },
    )


def collection_updated(collection: Collection, *, order_only: bool = False) -> None:
    """One `collection.updated` event per collection per transaction; `order_only` while the
    only change is the order shoppers see it in (its sort, positions or pins)."""
    if collection.id is None:
        db.session.flush()
    marked: dict[int, Any] = db.session.info.setdefault("tx.updated_collections", {})
    event = marked.get(collection.id)
    if event is None:
        payload = {"collection_id": collection.id, "order_only": order_only}
        marked[collection.id] = outbox.enqueue(COLLECTION_UPDATED, payload)
    elif event.payload.get("order_only") and not order_only:
        event.payload = {**event.payload, "order_only": False}


def _check_version(model: Any, row_id: int, expected: datetime | None, what: str) -> None:
    """Optimistic concurrency for a caller that read the row at `expected` (its updated_at,
    e.g. the Admin API's If-Match): a conditional UPDATE that changes nothing but fails when
    another change came in between, and holds the row until the transaction ends."""
    if expected is None:
        return
    matched = db.session.execute(
        update(model)
        .where(model.id == row_id, model.updated_at == expected)
        .values(updated_at=model.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if matched != 1:
        raise StaleVersion(f"The {what} changed since it was read: read it again and retry.")


def _active_in(condition: ColumnElement[bool]) -> list[int]:
    return list(db.session.scalars(select(Product.id).where(Product.status == ACTIVE, condition)))


# -- categories ---------------------------------------------------------------------------------


def get_category(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound("No such category.")
    return category


def category_tree() -> list[Category]:
    """Every category in tree order (parents before children, siblings by position)."""
    rows = list(db.session.scalars(select(Category)))
    children: dict[int | None, list[Category]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[Category] = []

    def walk(parent_id: int | None) -> None:
        for node in sorted(children.get(parent_id, []), key=lambda c: (c.position, c.name.lower())):
            ordered.append(node)
            walk(node.id)

    walk(None)
    return ordered


def _bound_position_and_description(
    position: Any, description: str | None, errors: dict[str, list[str]]
) -> None:
    """A category's position and description within bounds (commerce/bounds.py)."""
    for field, check in (
        (
            "position",
            lambda: position is None or check_int(position, field="position", high=MAX_POSITION),
        ),
        (
            "description",
            lambda: check_length(
                description or "", field="description", limit=MAX_DESCRIPTION, what="A description"
            ),
        ),
    ):
        try:
            check()
        except ValidationError as exc:
            errors.setdefault(field, []).append(exc.message)


def _check_name(name: str, field: str = "name") -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Enter a name.", field=field)
    if len(name) > 120:
        raise ValidationError("At most 120 characters.", field=field)
    return name


def _place(category: Category, parent: Category | None) -> None:
    if parent is None:
        category.path_ids = f"/{category.id}/"
        category.full_name = category.name
    else:
        category.path_ids = f"{parent.path_ids}{category.id}/"
        category.full_name = f"{parent.full_name} / {category.name}"


def _replace_subtree_paths(category: Category, old_path: str, old_full: str) -> None:
    for child in db.session.scalars(
        select(Category).where(Category.path_ids.startswith(old_path), Category.id != category.id)
    ):
        child.path_ids = category.path_ids + child.path_ids[len(old_path) :]
        child.full_name = category.full_name + child.full_name[len(old_full) :]


@service
def create_category(
    *,
    name: str,
    by: Any,
    parent_id: int | None = None,
    handle: str | None = None,
    description: str = "",
    position: int | None = None,
) -> Category:
    errors: dict[str, list[str]] = {}
    with transaction():
        parent = None
        try:
            name = _check_name(name)
        except ValidationError as exc:
            errors.setdefault("name", []).append(exc.message)
        if parent_id:
            parent = db.session.get(Category, check_id(parent_id) or 0)
            if parent is None:
                errors.setdefault("parent_id", []).append("Choose an existing parent category.")
            elif parent.depth + 1 >= MAX_DEPTH:
                errors.setdefault("parent_id", []).append(
                    f"Categories nest at most {MAX_DEPTH} deep."
                )
        if handle:
            try:
                handle = check_handle(handle)
                if db.session.scalar(select(Category.id).where(Category.handle == handle)):
                    raise DuplicateValue("Another category uses this handle.", field="handle")
            except ValidationError as exc:
                errors.setdefault("handle", []).append(exc.message)
        _bound_position_and_description(position, description, errors)
        if errors:
            raise ValidationError(errors=errors)
        if position is None:
            position = (
                db.session.scalar(
                    select(func.coalesce(func.max(Category.position), 0)).where(
                        Category.parent_id == (parent.id if parent else None)
                        if parent
                        else Category.parent_id.is_(None)
                    )
                )
                + 1
            )
        category = Category(
            name=name,
            handle=handle or free_handle(Category, handle_from(name)),
            parent_id=parent.id if parent else None,
            description=(description or "").strip(),
            position=position,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        db.session.add(category)
        db.session.flush()
        _place(category, parent)
        _category_updated(category, paths=[category.path_ids], top_level=parent is None)
        audit.record(by, "category.create", category, after=category.snapshot())
    return category


@service
def update_category(
    category: Category,
    *,
    by: Any,
    name: str | None = None,
    handle: str | None = None,
    parent_id: int | str | None = "keep",
    description: str | None = None,
    position: int | None = None,
    expected_version: datetime | None = None,
) -> Category:
    """Rename, move or reorder; `expected_version` (the updated_at the caller read) refuses
    with StaleVersion when someone else changed the category since."""
    errors: dict[str, list[str]] = {}
    with transaction():
        _check_version(Category, category.id, expected_version, "category")
        before = category.snapshot()
        old_path, old_full = category.path_ids, category.full_name
        was_top = category.parent_id is None
        if name is not None:
            try:
                category.name = _check_name(name)
            except ValidationError as exc:
                errors.setdefault("name", []).append(exc.message)
        if handle is not None:
            try:
                handle = check_handle(handle)
                taken = db.session.scalar(
                    select(Category.id).where(Category.handle == handle, Category.id != category.id)
                )
                if taken:
                    raise DuplicateValue("Another category uses this handle.", field="handle")
                category.handle = handle
            except ValidationError as exc:
                errors.setdefault("handle", []).append(exc.message)
        parent = category.parent
        if parent_id != "keep":
            parent = db.session.get(Category, check_id(parent_id) or 0) if parent_id else None
            if parent_id and parent is None:
                errors.setdefault("parent_id", []).append("Choose an existing parent category.")
            elif parent is not None and parent.path_ids.startswith(category.path_ids):
                errors.setdefault("parent_id", []).append(
                    "A category cannot move inside itself or its own subcategories."
                )
            else:
                category.parent_id = parent.id if parent else None
        _bound_position_and_description(position, description, errors)
        if description is not None:
            category.description = description.strip()
        if position is not None:
            category.position = position
        if errors:
            raise ValidationError(errors=errors)
        _place(category, parent)
        if category.path_ids != old_path or category.full_name != old_full:
            _replace_subtree_paths(category, old_path, old_full)
            db.session.flush()
            subtree = select(Category.id).where(Category.path_ids.startswith(category.path_ids))
            _members_changed(
                CATEGORY_CHANGED,
                "category_id",
                category.id,
                _active_in(Product.category_id.in_(subtree)),
            )
        after = category.snapshot()
        if before != after:
            _category_updated(
                category,
                paths=[old_path, category.path_ids],
                top_level=was_top or category.parent_id is None,
            )
            audit.record(by, "category.update", category, before=before, after=after)
    return category


@service
def delete_category(category: Category, *, by: Any) -> int:
    """Delete an empty-of-children category; its products become uncategorised (count returned)."""
    has_children = db.session.scalar(select(exists().where(Category.parent_id == category.id)))
    if has_children:
        raise ValidationError(
            "Move or delete this category's subcategories first.", field="category"
        )
    with transaction():
        _members_changed(
            CATEGORY_CHANGED,
            "category_id",
            category.id,
            _active_in(Product.category_id == category.id),
        )
        count = db.session.execute(
            update(Product).where(Product.category_id == category.id).values(category_id=None)
        ).rowcount
        _category_updated(category, paths=[category.path_ids], top_level=category.parent_id is None)
        audit.record(
            by, "category.delete", category, before={**category.snapshot(), "products": count}
        )
        db.session.delete(category)
    return count


def category_product_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(Product.category_id, func.count())
        .where(Product.category_id.is_not(None))
        .group_by(Product.category_id)
    )
    return {cid: n for cid, n in rows}


# -- collections --------------------------------------------------------------------------------

RULE_FIELDS = {
    "tag": "Tag",
    "vendor": "Vendor",
    "product_type": "Product type",
    "title": "Title",
    "price": "Price",
    "category": "Category",
}
RULE_OPERATORS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "greater_than": "is greater than",
    "less_than": "is less than",
}
_TEXT_OPS = {"equals", "not_equals", "contains", "starts_with"}
_NUMBER_OPS = {"equals", "not_equals", "greater_than", "less_than"}
# The shop's order of a collection (Collection.sort). "manual" is the hand-made order of a
# manual collection's positions; rule-based collections choose one of the rules and open on
# NEWEST. Pinned products come first whatever the sort (see collection_order.py).
MANUAL_SORT, BEST_SELLING, NEWEST = "manual", "best-selling", "newest"
COLLECTION_SORTS = {
    MANUAL_SORT: "Manual (drag and drop)",
    BEST_SELLING: "Best selling (last 30 days)",
    NEWEST: "Newest",
    "price-asc": "Price: low to high",
    "price-desc": "Price: high to low",
    "title": "Title: A to Z",
}


def sorts_for(kind: str) -> dict[str, str]:
    """The sorts a collection of this kind may use (rule-based ones have no manual order)."""
    return {k: v for k, v in COLLECTION_SORTS.items() if kind == "manual" or k != MANUAL_SORT}


def check_sort(kind: str, sort: str) -> str:
    if sort not in COLLECTION_SORTS:
        raise ValidationError("Choose how the shop sorts this collection.", field="sort")
    if sort not in sorts_for(kind):
        raise ValidationError(
            "A rule-based collection has no hand-made order: choose best selling, newest, "
            "price or title (pin products to put them first).",
            field="sort",
        )
    return sort


def get_collection(collection_id: int) -> Collection:
    collection = db.session.get(Collection, collection_id)
    if collection is None:
        raise NotFound("No such collection.")
    return collection


def check_rules(rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each rule is {field, op, value}; price values are minor units, category an id."""
    clean: list[dict[str, Any]] = []
    errors: dict[ErrorPath, list[str]] = {}
    for index, rule in enumerate(rules):
        key = ("rules", index)
        field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
        if field not in RULE_FIELDS:
            errors.setdefault(key, []).append("Choose what the rule looks at.")
            continue
        allowed = (
            _NUMBER_OPS
            if field == "price"
            else ({"equals", "not_equals"} if field in ("tag", "category") else _TEXT_OPS)
        )
        if op not in allowed:
            errors.setdefault(key, []).append(
                f"{RULE_FIELDS[field]} rules cannot use “{RULE_OPERATORS.get(op, op)}”."
            )
            continue
        if field == "price" or field == "category":
            try:
                value = int(value)
            except (TypeError, ValueError):
                errors.setdefault(key, []).append("Enter a number.")
                continue
            if field == "category" and db.session.get(Category, value) is None:
                errors.setdefault(key, []).append("Choose an existing category.")
                continue
        else:
            value = " ".join(str(value or "").split())
            if not value:
                errors.setdefault(key, []).append("Enter a value.")
                continue
        clean.append({"field": field, "op": op, "value": value})
    if errors:
        raise ValidationError(errors=errors)
    return clean


def describe_rules(collections: Sequence[Collection], *, currency: str) -> dict[int, list[str]]:
    """Each rule-based collection's rules as people read them ("Category is Apparel / Tops",
    "Price is less than $25.00"), never raw ids or minor units; one query for every name."""
    from commerce.money import format_money

    category_ids = {
        int(rule["value"])
        for collection in collections
        for rule in collection.rules or []
        if rule.get("field") == "category" and str(rule.get("value", "")).isdigit()
    }
    names: dict[int, str] = {}
    if category_ids:
        names = {
            c.id: c.full_name or c.name
            for c in db.session.scalars(select(Category).where(Category.id.in_(category_ids)))
        }
    described: dict[int, list[str]] = {}
    for collection in collections:
        phrases = []
        for rule in collection.rules or []:
            field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
            if field == "price" and isinstance(value, int):
                shown = format_money(value, currency)
            elif field == "category":
                shown = names.get(int(value), "a deleted category") if str(value).isdigit() else ""
            else:
                shown = f"“{value}”"
            label = RULE_FIELDS.get(str(field), str(field))
            phrases.append(f"{label} {RULE_OPERATORS.get(str(op), str(op))} {shown}")
        described[collection.id] = phrases
    return described


def _rule_clause(rule: dict[str, Any]) -> ColumnElement[bool]:
    field, op, value = rule["field"], rule["op"], rule["value"]
    if field == "tag":
        has = exists().where(
            ProductTag.product_id == Product.id, func.lower(ProductTag.tag) == value.lower()
        )
        return has if op == "equals" else ~has
    if field == "category":
        sub = select(Category.path_ids).where(Category.id == value).scalar_subquery()
        within = Product.category_id.in_(
            select(Category.id).where(Category.path_ids.startswith(sub))
        )
        return within if op == "equals" else or_(Product.category_id.is_(None), ~within)
    column = {
        "vendor": Product.vendor,
        "product_type": Product.product_type,
        "title": Product.title,
        "price": Product.min_price,
    }[field]
    if field == "price":
        return {
            "equals": column == value,
            "not_equals": column != value,
            "greater_than": column > value,
            "less_than": column < value,
        }[op]
    lowered = func.lower(column)
    value = value.lower()
    return {
        "equals": lowered == value,
        "not_equals": lowered != value,
        "contains": lowered.contains(value, autoescape=True),
        "starts_with": lowered.startswith(value, autoescape=True),
    }[op]


def collection_condition(collection: Collection) -> ColumnElement[bool]:
    """A WHERE clause selecting the collection's products, manual or rule-based."""
    if collection.kind == "manual":
        return Product.id.in_(
            select(CollectionProduct.product_id).where(
                CollectionProduct.collection_id == collection.id
            )
        )
    clauses = [_rule_clause(r) for r in collection.rules or []]
    if not clauses:
        return false()
    return and_(true(), *clauses) if collection.match == "all" else or_(false(), *clauses)


@service
def create_collection(
    *,
    title: str,
    by: Any,
    kind: str = "manual",
    handle: str | None = None,
    description: str = "",
    match: str = "all",
    rules: Sequence[dict[str, Any]] = (),
    sort: str | None = None,
) -> Collection:
    """A new collection; without a `sort`, a manual one keeps its hand-made order and a
    rule-based one opens on its newest products."""
    with transaction():
        collection = Collection(
            title="",
            handle="",
            kind="manual",
            sort=None,
            pinned_ids=[],
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        fields: dict[str, Any] = {"sort": sort} if sort is not None else {}
        _apply_collection(
            collection,
            title=title,
            handle=handle,
            kind=kind,
            description=description,
            match=match,
            rules=rules,
            **fields,
        )
        db.session.add(collection)
        db.session.flush()
        _members_changed(
            COLLECTION_CHANGED,
            "collection_id",
            collection.id,
            _active_in(collection_condition(collection)),
        )
        collection_updated(collection)
        audit.record(by, "collection.create", collection, after=collection.snapshot())
    return collection


@service
def update_collection(
    collection: Collection, *, by: Any, expected_version: datetime | None = None, **fields: Any
) -> Collection:
    """`expected_version`: see update_category."""
    with transaction():
        _check_version(Collection, collection.id, expected_version, "collection")
        before = collection.snapshot()
        members = _active_in(collection_condition(collection))
        _apply_collection(collection, **fields)
        if before != collection.snapshot():
            db.session.flush()
            _members_changed(
                COLLECTION_CHANGED,
                "collection_id",
                collection.id,
                [*members, *_active_in(collection_condition(collection))],
            )
            collection_updated(collection)
            audit.record(
                by, "collection.update", collection, before=before, after=collection.snapshot()
            )
    return collection


def _apply_collection(collection: Collection, **fields: Any) -> None:
    errors: dict[ErrorPath, list[str]] = {}
    if "title" in fields:
        title = " ".join((fields["title"] or "").split())
        if not title:
            errors.setdefault("title", []).append("Enter a title.")
        collection.title = title[:255]
    if fields.get("handle") or not collection.handle:
        try:
            handle = (
                check_handle(fields["handle"])
                if fields.get("handle")
                else free_handle(
                    Collection,
                    handle_from(collection.title or "collection"),
                    exclude_id=collection.id,
                )
            )
            taken = db.session.scalar(
                select(Collection.id).where(
                    Collection.handle == handle, Collection.id != collection.id
                )
                if collection.id
                else select(Collection.id).where(Collection.handle == handle)
            )
            if taken:
                raise DuplicateValue("Another collection uses this handle.", field="handle")
            collection.handle = handle
        except ValidationError as exc:
            errors.setdefault("handle", []).append(exc.message)
    if "kind" in fields:
        if fields["kind"] not in ("manual", "rule"):
            errors.setdefault("kind", []).append("Choose manual or rule-based.")
        else:
            collection.kind = fields["kind"]
    if "match" in fields:
        if fields["match"] not in ("all", "any"):
            errors.setdefault("match", []).append("Choose all or any.")
        else:
            collection.match = fields["match"]
    if "description" in fields:
        description = (fields["description"] or "").strip()
        if len(description) > MAX_DESCRIPTION:
            errors.setdefault("description", []).append(
                f"A description is at most {MAX_DESCRIPTION:,} characters."
            )
        else:
            collection.description = description
    if "rules" in fields:
        try:
            collection.rules = check_rules(fields["rules"] or [])
        except ValidationError as exc:
            for key, messages in exc.errors.items():
                errors.setdefault(key, []).extend(messages)
    if collection.kind == "rule" and not collection.rules and "rules" not in errors:
        errors.setdefault("rules", []).append("A rule-based collection needs at least one rule.")
    if "sort" in fields:
        try:
            collection.sort = check_sort(collection.kind, fields["sort"])
        except ValidationError as exc:
            errors.setdefault("sort", []).append(exc.message)
    if collection.sort is None:
        collection.sort = MANUAL_SORT if collection.kind == "manual" else NEWEST
    elif collection.kind == "rule" and collection.sort == MANUAL_SORT and "sort" not in fields:
        # Turned rule-based: the positions no longer apply, the newest products come first.
        collection.sort = NEWEST
    if errors:
        raise ValidationError(errors=errors)


@service
def delete_collection(collection: Collection, *, by: Any) -> None:
    with transaction():
        audit.record(by, "collection.delete", collection, before=collection.snapshot())
        collection_updated(collection)
        _members_changed(
            COLLECTION_CHANGED,
            "collection_id",
            collection.id,
            _active_in(collection_condition(collection)),
        )
        db.session.execute(
            delete(CollectionProduct).where(CollectionProduct.collection_id == collection.id)
        )
        db.session.delete(collection)


@service
def add_to_collection(collection: Collection, product_ids: Sequence[int], *, by: Any) -> int:
    if collection.kind != "manual":
        raise ValidationError(
            "Rule-based collections choose their own products.", field="product_ids"
        )
    with transaction():
        present = set(
            db.session.scalars(
                select(CollectionProduct.product_id).where(
                    CollectionProduct.collection_id == collection.id
                )
            )
        )
        wanted = [int(p) for p in dict.fromkeys(product_ids) if int(p) not in present]
        if any(check_id(p) is None for p in wanted):  # a huge id would overflow the query
            raise ValidationError("Some of those products no longer exist.", field="product_ids")
        found = set(db.session.scalars(select(Product.id).where(Product.id.in_(wanted))))
        if set(wanted) - found:
            raise ValidationError("Some of those products no longer exist.", field="product_ids")
        last = db.session.scalar(
            select(func.coalesce(func.max(CollectionProduct.position), 0)).where(
                CollectionProduct.collection_id == collection.id
            )
        )
        for offset, product_id in enumerate(wanted, start=1):
            db.session.add(
                CollectionProduct(
                    collection_id=collection.id, product_id=product_id, position=last + offset
                )
            )
        if wanted:
            _members_changed(
                COLLECTION_CHANGED,
                "collection_id",
                collection.id,
                _active_in(Product.id.in_(wanted)),
            )
            collection_updated(collection)
            audit.record(by, "collection.add_products", collection, after={"product_ids": wanted})
    return len(wanted)


@service
def remove_from_collection(collection: Collection, product_ids: Sequence[int], *, by: Any) -> int:
    """Take products out of a manual collection; they stop being pinned in it too."""
    with transaction():
        ids = [int(p) for p in product_ids]
        removed = db.session.execute(
            delete(CollectionProduct).where(
                CollectionProduct.collection_id == collection.id,
                CollectionProduct.product_id.in_(ids),
            )
        ).rowcount
        if removed:
            _members_changed(
                COLLECTION_CHANGED, "collection_id", collection.id, _active_in(Product.id.in_(ids))
            )
            collection_updated(collection)
            before: dict[str, Any] = {"product_ids": ids}
            after: dict[str, Any] | None = None
            pins = list(collection.pinned_ids or [])
            kept = [p for p in pins if p not in ids]
            if kept != pins:
                collection.pinned_ids = kept
                before["pinned_ids"], after = pins, {"pinned_ids": kept}
            audit.record(by, "collection.remove_products", collection, before=before, after=after)
    return removed
