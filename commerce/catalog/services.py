"""Catalog writes: products, their options and variants, and bulk changes.

Each function is one transaction (joining the caller's when there is one), validates before
it writes, records an audit entry per changed row and an outbox event per changed product.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from commerce import audit, outbox
from commerce.bounds import (
    MAX_DESCRIPTION,
    MAX_POSITION,
    MAX_PRICE,
    MAX_TAGS,
    MAX_THRESHOLD,
    MAX_WEIGHT_GRAMS,
    check_id,
    check_int,
    check_length,
)
from commerce.catalog.bundles import refuse_if_component
from commerce.catalog.models import (
    ACTIVE,
    ARCHIVED,
    CONTINUE,
    DENY,
    DRAFT,
    MARKDOWN,
    MAX_OPTIONS,
    PRODUCT_STATUSES,
    Category,
    Collection,
    CollectionProduct,
    OptionType,
    Product,
    ProductTag,
    Variant,
)
from commerce.catalog.text import (
    check_barcode,
    check_handle,
    check_sku,
    handle_from,
    render_description,
)
from commerce.db import service, utcnow
from commerce.errors import Conflict, DuplicateValue, NotFound, StaleVersion, ValidationError
from commerce.extensions import db
from commerce.money import format_amount_plain, scale_amount
from commerce.tags import normalize_tags

PRODUCT_FIELDS = (
    "title",
    "handle",
    "description",
    "description_format",
    "status",
    "vendor",
    "product_type",
    "seo_title",
    "seo_description",
    "category_id",
    "tags",
    "collection_ids",
    "is_gift_card",
)
VARIANT_FIELDS = (
    "sku",
    "barcode",
    "price",
    "compare_at_price",
    "cost",
    "weight_grams",
    "options",
    "inventory_policy",
    "low_stock_threshold",
    "position",
)


def shop_currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    return product


def get_variant(variant_id: int) -> Variant:
    variant = db.session.get(Variant, variant_id)
    if variant is None:
        raise NotFound("No such variant.")
    return variant


def product_changed(product: Product, *, created: bool = False) -> None:
    """Mark a product as changed once per transaction: bump updated_at, queue one event
    (`created` in its payload tells webhooks a new product from a changed one)."""
    product.updated_at = utcnow()
    marked: set[int] = db.session.info.setdefault("tx.changed_products", set())
    if product.id is None:
        db.session.flush()
    if product.id not in marked:
        marked.add(product.id)
        payload: dict[str, Any] = {"product_id": product.id}
        if created:
            payload["created"] = True
        outbox.enqueue("product.changed", payload)


# -- validation helpers ------------------------------------------------------------------------


def _check_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise ValidationError("Enter a title.", field="title")
    if len(title) > 255:
        raise ValidationError("Titles are at most 255 characters.", field="title")
    return title


def _check_status(status: str) -> str:
    if status not in PRODUCT_STATUSES:
        raise ValidationError("Status must be draft, active or archived.", field="status")
    return status


def check_price(value: int | None, *, field: str = "price", required: bool = True) -> int | None:
    if value is None:
        if required:
            raise ValidationError("Enter a price.", field=field)
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("Prices are whole minor units.", field=field)
    if value < 0:
        raise ValidationError("A price cannot be negative.", field=field)
    if value > MAX_PRICE:
        limit = format_amount_plain(MAX_PRICE, current_app.config["SHOP_CURRENCY"])
        raise ValidationError(f"A price is at most {limit}.", field=field)
    return value


def _check_weight(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValidationError("Weight cannot be negative.", field="weight_grams")
    return check_int(value, field="weight_grams", high=MAX_WEIGHT_GRAMS, what="whole grams")


def _unique_handle(model: type, handle: str, *, exclude_id: int | None = None) -> bool:
    stmt = select(model.id).where(model.handle == handle)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return db.session.scalar(stmt.limit(1)) is None


def free_handle(model: type, base: str, *, exclude_id: int | None = None) -> str:
    """`base`, or `base-2`, `base-3`... whichever is free."""
    base = base[:240]
    candidate, n = base, 1
    while not _unique_handle(model, candidate, exclude_id=exclude_id):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _check_category(category_id: int | None) -> int | None:
    if category_id in (None, "", 0):
        return None
    found = check_id(category_id)  # a huge id would overflow the query
    if found is None or db.session.get(Category, found) is None:
        raise ValidationError("Choose an existing category.", field="category_id")
    return found


def _check_sku_free(sku: str | None, *, exclude_id: int | None = None, field: str = "sku") -> None:
    if sku is None:
        return
    stmt = select(Variant.id, Variant.product_id).where(Variant.sku == sku)
    if exclude_id is not None:
        stmt = stmt.where(Variant.id != exclude_id)
    if db.session.execute(stmt.limit(1)).first() is not None:
        raise DuplicateValue(f"SKU “{sku}” is already used by another variant.", field=field)


# -- products -----------------------------------------------------------------------------------


def _apply_product_fields(product: Product, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}

    def attempt(name: str, fn: Any) -> None:
        try:
            fn()
        except ValidationError as exc:
            for key, messages in (exc.errors or {exc.field or name: [exc.message]}).items():
                errors.setdefault(key, []).extend(messages)

    if "title" in fields:
        attempt("title", lambda: setattr(product, "title", _check_title(fields["title"])))
    if "handle" in fields:

        def set_handle() -> None:
            handle = check_handle(fields["handle"])
            if not _unique_handle(Product, handle, exclude_id=product.id):
                raise DuplicateValue("Another product already uses this handle.", field="handle")
            product.handle = handle

        attempt("handle", set_handle)
    if "status" in fields:
        attempt("status", lambda: setattr(product, "status", _check_status(fields["status"])))
    for name, limit in (("vendor", 120), ("product_type", 120), ("seo_title", 255)):
        if name in fields:
            value = " ".join((fields[name] or "").split())
            if len(value) > limit:
                errors.setdefault(name, []).append(f"At most {limit} characters.")
            else:
                setattr(product, name, value)
    if "seo_description" in fields:
        value = (fields["seo_description"] or "").strip()
        if len(value) > 320:
            errors.setdefault("seo_description", []).append("At most 320 characters.")
        else:
            product.seo_description = value
    if "description" in fields or "description_format" in fields:
        fmt = fields.get("description_format", product.description_format) or MARKDOWN
        text = fields.get("description", product.description) or ""

        def set_description() -> None:
            check_length(text, field="description", limit=MAX_DESCRIPTION, what="A description")
            product.description_html = render_description(text, fmt)
            product.description, product.description_format = text, fmt

        attempt("description", set_description)
    if "category_id" in fields:
        attempt(
            "category_id",
            lambda: setattr(product, "category_id", _check_category(fields["category_id"])),
        )
    tags = None
    if "tags" in fields:
        try:
            tags = normalize_tags(fields["tags"])
            if len(tags) > MAX_TAGS:
                raise ValidationError(f"A product has at most {MAX_TAGS} tags.", field="tags")
        except ValidationError as exc:
            errors.setdefault("tags", []).append(exc.message)
    collection_ids = None
    if "collection_ids" in fields:
        collection_ids = [int(c) for c in fields["collection_ids"] or []]
        found = set(
            db.session.scalars(select(Collection.id).where(Collection.id.in_(collection_ids)))
        )
        if set(collection_ids) - found:
            errors.setdefault("collection_ids", []).append("Choose existing collections.")
    if "is_gift_card" in fields:
        product.is_gift_card = bool(fields["is_gift_card"])
    if errors:
        raise ValidationError(errors=errors)
    if product.status == ACTIVE and product.published_at is None:
        product.published_at = utcnow()
    if tags is not None:
        _set_tags(product, tags)
    if collection_ids is not None:
        _set_manual_collections(product, collection_ids)


def _set_tags(product: Product, tags: Sequence[str]) -> None:
    wanted = {t.lower(): t for t in tags}
    for row in list(product.tag_rows):
        if row.tag.lower() not in wanted:
            product.tag_rows.remove(row)
        else:
            wanted.pop(row.tag.lower())
    for tag in wanted.values():
        product.tag_rows.append(ProductTag(tag=tag))


def _set_manual_collections(product: Product, collection_ids: Sequence[int]) -> None:
    current = set(
        db.session.scalars(
            select(CollectionProduct.collection_id).where(
                CollectionProduct.product_id == product.id
            )
        )
    )
    wanted = set(collection_ids)
    if current - wanted:
        db.session.execute(
            delete(CollectionProduct).where(
                CollectionProduct.product_id == product.id,
                CollectionProduct.collection_id.in_(current - wanted),
            )
        )
    for collection_id in wanted - current:
        last = db.session.scalar(
            select(func.coalesce(func.max(CollectionProduct.position), 0)).where(
                CollectionProduct.collection_id == collection_id
            )
        )
        db.session.add(
            CollectionProduct(collection_id=collection_id, product_id=product.id, position=last + 1)
        )


def product_collection_ids(product: Product) -> list[int]:
    return list(
        db.session.scalars(
            select(CollectionProduct.collection_id).where(
                CollectionProduct.product_id == product.id
            )
        )
    )


@service
def create_product(
    *,
    title: str,
    by: Any,
    handle: str | None = None,
    status: str = DRAFT,
    price: int = 0,
    compare_at_price: int | None = None,
    sku: str | None = None,
    barcode: str | None = None,
    weight_grams: int | None = None,
    **fields: Any,
) -> Product:
    """A new product with its first (default) variant; options and more variants come after."""
    currency = shop_currency()
    # Collections need the product's id: they are set once the product row exists.
    collection_ids = fields.pop("collection_ids", None)
    errors: dict[str, list[str]] = {}
    variant_fields: dict[str, Any] = {}
    for name, check in (
        ("price", lambda: check_price(price)),
        (
            "compare_at_price",
            lambda: check_price(compare_at_price, field="compare_at_price", required=False),
        ),
        ("sku", lambda: check_sku(sku)),
        ("barcode", lambda: check_barcode(barcode)),
        ("weight_grams", lambda: _check_weight(weight_grams)),
    ):
        try:
            variant_fields[name] = check()
        except ValidationError as exc:
            errors.setdefault(name, []).append(exc.message)
    try:
        _check_sku_free(variant_fields.get("sku"))
    except ValidationError as exc:
        errors.setdefault("sku", []).append(exc.message)
    product = Product(title="", handle="", currency=currency, status=DRAFT)
    try:
        title = _check_title(title)
        if handle:
            fields["handle"] = handle
        else:
            product.handle = free_handle(Product, handle_from(title))
        _apply_product_fields(product, {"title": title, "status": status, **fields})
    except ValidationError as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors=errors)
    product.created_at = product.updated_at = utcnow()
    db.session.add(product)
    db.session.flush()
    if collection_ids:
        ids = [int(c) for c in collection_ids]
        _apply_product_fields(product, {"collection_ids": ids})
    variant = Variant(product=product, currency=currency, position=1, **variant_fields)
    db.session.add(variant)
    refresh_price_range(product)
    product_changed(product, created=True)
    audit.record(by, "product.create", product, after=product.snapshot())
    return product


def _check_version(product_id: int, expected: datetime | None) -> None:
    """Optimistic concurrency for a caller that read the product at `expected` (its
    updated_at): one conditional UPDATE that changes nothing but fails when another change
    came in between, and holds the row until this transaction ends."""
    if expected is None:
        return
    matched = db.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.updated_at == expected)
        .values(updated_at=Product.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if matched != 1:
        raise StaleVersion("The product changed since it was read: read it again and retry.")


@service
def update_product(
    product: Product, *, by: Any, expected_version: datetime | None = None, **fields: Any
) -> Product:
    """Change a product's fields; `expected_version` (the updated_at the caller read) makes it
    refuse with StaleVersion when someone else changed the product since."""
    _check_version(product.id, expected_version)
    before = product.snapshot()
    _apply_product_fields(product, fields)
    after = product.snapshot()
    if before != after or "collection_ids" in fields:
        product_changed(product)
        audit.record(by, "product.update", product, before=before, after=after)
    return product


@service
def delete_product(product: Product, *, by: Any) -> None:
    """Removes a product and its variants; media files are removed once the delete commits."""
    from commerce.catalog.media import forget_media_files

    refuse_if_component(v.id for v in product.variants)
    before = product.snapshot()
    paths = [p for m in product.media for p in (m.path, m.thumb_path) if p]
    outbox.enqueue(
        "product.deleted", {"product_id": product.id, "category_id": product.category_id}
    )
    audit.record(by, "product.delete", product, before=before)
    try:
        # Records other packages keep (the stock ledger, purchase orders, transfers) refer to
        # its variants and refuse the delete at the database: say so instead of failing.
        with db.session.begin_nested():
            db.session.delete(product)
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            f"{product.title} has stock history, purchase orders or transfers that refer to "
            "it, so it cannot be deleted. Archive it instead: it leaves the shop and the "
            "records stay.",
            product_id=product.id,
        ) from None
    forget_media_files(paths)


def refresh_price_range(product: Product) -> None:
    db.session.flush()
    low, high, count = db.session.execute(
        select(func.min(Variant.price), func.max(Variant.price), func.count(Variant.id)).where(
            Variant.product_id == product.id
        )
    ).one()
    product.min_price, product.max_price, product.variant_count = low or 0, high or 0, count


# -- options and variants -----------------------------------------------------------------------


@service
def set_options(
    product: Product, options: Sequence[tuple[str, Sequence[str]]], *, by: Any
) -> Product:
    """Replace the product's option names and values (at most three options)."""
    cleaned: list[tuple[str, list[str]]] = []
    errors: dict[str, list[str]] = {}
    if len(options) > MAX_OPTIONS:
        raise ValidationError(f"A product has at most {MAX_OPTIONS} options.", field="options")
    seen_names: set[str] = set()
    for index, (name, values) in enumerate(options, start=1):
        name = " ".join((name or "").split())
        name_field, values_field = f"option{index}_name", f"option{index}_values"
        vals: list[str] = []
        for v in values:
            v = " ".join(str(v).split())
            if v and v.lower() not in {x.lower() for x in vals}:
                vals.append(v[:120])
        if not name and not vals:
            continue
        if not name:
            errors.setdefault(name_field, []).append("Name the option (for example Size).")
        elif name.lower() in seen_names:
            errors.setdefault(name_field, []).append(f"Option “{name}” is listed twice.")
        if not vals:
            errors.setdefault(values_field, []).append("Give the option at least one value.")
        seen_names.add(name.lower())
        cleaned.append((name[:80], vals))
    if errors:
        raise ValidationError(errors=errors)
    before = {"options": {o.name: o.values for o in product.options}}
    for option in list(product.options):
        product.options.remove(option)
    db.session.flush()
    for position, (name, values) in enumerate(cleaned, start=1):
        product.options.append(OptionType(name=name, values=values, position=position))
    after = {"options": dict(cleaned)}
    product_changed(product)
    audit.record(by, "product.set_options", product, before=before, after=after)
    return product


@service
def generate_variants(product: Product, *, by: Any, price: int | None = None) -> list[Variant]:
    """Create a variant for every option combination not yet present.

    A product's lone default variant takes the first combination, so its SKU, price and stock
    carry over rather than being orphaned.
    """
    options = sorted(product.options, key=lambda o: o.position)
    if not options:
        raise ValidationError("Add an option with values first.", field="options")
    combos = list(itertools.product(*[o.values for o in options]))
    if len(combos) > 250:
        raise ValidationError(
            "That makes more than 250 variants; use fewer values.", field="options"
        )
    created: list[Variant] = []
    variants = list(product.variants)
    existing = {v.option_values for v in variants}
    base_price = price if price is not None else (variants[0].price if variants else 0)
    check_price(base_price)
    if len(variants) == 1 and variants[0].option_values == ():
        default = variants[0]
        _assign_options(default, combos[0])
        existing = {combos[0]}
    position = max([v.position for v in variants] or [0])
    for combo in combos:
        if tuple(combo) in existing:
            continue
        position += 1
        variant = Variant(
            product=product, currency=product.currency, price=base_price, position=position
        )
        _assign_options(variant, combo)
        db.session.add(variant)
        created.append(variant)
    refresh_price_range(product)
    product_changed(product)
    audit.record(
        by,
        "product.generate_variants",
        product,
        after={"created": [" / ".join(c.option_values) for c in created]},
    )
    return created


def _assign_options(variant: Variant, values: Sequence[str]) -> None:
    padded = list(values) + [None] * (MAX_OPTIONS - len(values))
    variant.option1, variant.option2, variant.option3 = padded[:MAX_OPTIONS]


def _variant_changes(
    variant: Variant | None, product: Product, fields: dict[str, Any]
) -> dict[str, Any]:
    unknown = set(fields) - set(VARIANT_FIELDS)
    if unknown:
        raise TypeError(f"unknown variant fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    checks = {
        "sku": lambda v: check_sku(v),
        "barcode": lambda v: check_barcode(v),
        "price": lambda v: check_price(v),
        "compare_at_price": lambda v: check_price(v, field="compare_at_price", required=False),
        "cost": lambda v: check_price(v, field="cost", required=False),
        "weight_grams": _check_weight,
        "low_stock_threshold": lambda v: _non_negative(v, "low_stock_threshold"),
        "position": lambda v: _non_negative(v, "position", high=MAX_POSITION),
    }
    for name, value in fields.items():
        try:
            if name in checks:
                clean[name] = checks[name](value)
            elif name == "inventory_policy":
                if value not in (DENY, CONTINUE):
                    raise ValidationError("Choose deny or continue.", field=name)
                clean[name] = value
            elif name == "options":
                clean[name] = _check_option_values(product, value, exclude=variant)
        except ValidationError as exc:
            errors.setdefault(exc.field or name, []).append(exc.message)
    if "sku" in clean and not errors.get("sku"):
        try:
            _check_sku_free(clean["sku"], exclude_id=variant.id if variant else None)
        except ValidationError as exc:
            errors.setdefault("sku", []).append(exc.message)
    if errors:
        raise ValidationError(errors=errors)
    return clean


def _non_negative(value: int | None, field: str, *, high: int = MAX_THRESHOLD) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValidationError("Cannot be negative.", field=field)
    return check_int(value, field=field, high=high)


def _check_option_values(
    product: Product, values: Sequence[str], *, exclude: Variant | None
) -> tuple[str, ...]:
    options = sorted(product.options, key=lambda o: o.position)
    values = tuple(" ".join(str(v).split()) for v in values)
    if len(values) != len(options):
        raise ValidationError("Give one value for each option.", field="options")
    for option, value in zip(options, values, strict=True):
        if value not in option.values:
            raise ValidationError(f"“{value}” is not a value of {option.name}.", field="options")
    for other in product.variants:
        if other is not exclude and other.option_values == values:
            raise DuplicateValue(
                "Another variant already has these option values.", field="options"
            )
    return values


@service
def add_variant(product: Product, *, by: Any, **fields: Any) -> Variant:
    fields.setdefault("price", product.variants[0].price if product.variants else 0)
    clean = _variant_changes(None, product, fields)
    options = clean.pop("options", ())
    if product.options and not options:
        raise ValidationError("Give one value for each option.", field="options")
    position = max([v.position for v in product.variants] or [0]) + 1
    variant = Variant(product=product, currency=product.currency, position=position, **clean)
    _assign_options(variant, options)
    db.session.add(variant)
    refresh_price_range(product)
    product_changed(product)
    db.session.flush()
    audit.record(by, "variant.create", variant, after=variant.snapshot())
    return variant


@service
def update_variant(
    variant: Variant, *, by: Any, expected_version: datetime | None = None, **fields: Any
) -> Variant:
    """Change a variant; `expected_version` is its product's updated_at as the caller read it
    (see update_product)."""
    clean = _variant_changes(variant, variant.product, fields)
    _check_version(variant.product_id, expected_version)
    before = variant.snapshot()
    options = clean.pop("options", None)
    for name, value in clean.items():
        setattr(variant, name, value)
    if options is not None:
        _assign_options(variant, options)
    after = variant.snapshot()
    if before != after:
        variant.updated_at = utcnow()
        refresh_price_range(variant.product)
        product_changed(variant.product)
        audit.record(by, "variant.update", variant, before=before, after=after)
    return variant


@service
def delete_variant(variant: Variant, *, by: Any) -> None:
    product = variant.product
    if len(product.variants) <= 1:
        raise ValidationError("A product keeps at least one variant; archive the product instead.")
    refuse_if_component([variant.id])
    audit.record(by, "variant.delete", variant, before=variant.snapshot())
    product.variants.remove(variant)
    db.session.delete(variant)
    refresh_price_range(product)
    product_changed(product)


# -- bulk ---------------------------------------------------------------------------------------

BULK_ACTIONS = {
    "publish": "Publish",
    "archive": "Archive",
    "draft": "Move to draft",
    "add_tag": "Add tag",
    "remove_tag": "Remove tag",
    "set_category": "Set category",
    "change_price": "Change price",
}


@dataclass(frozen=True)
class BulkResult:
    action: str
    selected: int
    changed: int

    @property
    def message(self) -> str:
        noun = "product" if self.changed == 1 else "products"
        unchanged = self.selected - self.changed
        tail = f" ({unchanged} already up to date)" if unchanged else ""
        return f"{BULK_ACTIONS[self.action]}: {self.changed} {noun} changed{tail}."


@service
def bulk_update_products(
    product_ids: Iterable[int],
    *,
    action: str,
    by: Any,
    tag: str | None = None,
    category_id: int | None = None,
    percent: Decimal | None = None,
    amount: int | None = None,
) -> BulkResult:
    """Apply one action to many products in a single transaction: all change, or none."""
    ids = sorted({int(i) for i in product_ids})
    if action not in BULK_ACTIONS:
        raise ValidationError("Choose a bulk action.", field="action")
    if not ids:
        raise ValidationError("Select at least one product.", field="ids")
    if any(check_id(i) is None for i in ids):  # a huge id would overflow the query
        raise ValidationError(
            "Some selected products no longer exist; reload the list.", field="ids"
        )
    if action in ("add_tag", "remove_tag"):
        tags = normalize_tags(tag or "")
        if len(tags) != 1:
            raise ValidationError("Enter one tag.", field="tag")
        tag = tags[0]
    if action == "set_category":
        category_id = _check_category(category_id)
    if action == "change_price":
        if (percent is None) == (amount is None):
            raise ValidationError("Give either a percentage or an amount.", field="percent")
        if percent is not None and not isinstance(percent, Decimal):
            percent = Decimal(str(percent))  # a whole number from a caller: exact as text
        if percent is not None and not percent.is_finite():
            raise ValidationError("Enter a percentage like 10 or -15.", field="percent")
        if percent is not None and percent <= Decimal(-100):
            raise ValidationError("A price cannot drop by 100% or more.", field="percent")
        if percent is not None and percent > Decimal(1000):
            raise ValidationError("A price can rise by at most 1000%.", field="percent")
        if amount is not None and abs(amount) > MAX_PRICE:
            raise ValidationError("That change is larger than any price.", field="amount")
    changed = 0
    products = list(
        db.session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id))
    )
    if len(products) != len(ids):
        raise ValidationError(
            "Some selected products no longer exist; reload the list.", field="ids"
        )
    for product in products:
        if _bulk_apply(
            product,
            action,
            by=by,
            tag=tag,
            category_id=category_id,
            percent=percent,
            amount=amount,
        ):
            changed += 1
    return BulkResult(action=action, selected=len(ids), changed=changed)


def _bulk_apply(
    product: Product,
    action: str,
    *,
    by: Any,
    tag: str | None,
    category_id: int | None,
    percent: Decimal | None,
    amount: int | None,
) -> bool:
    before = product.snapshot()
    if action in ("publish", "archive", "draft"):
        target = {"publish": ACTIVE, "archive": ARCHIVED, "draft": DRAFT}[action]
        if product.status == target:
            return False
        product.status = target
        if target == ACTIVE and product.published_at is None:
            product.published_at = utcnow()
    elif action == "add_tag":
        if tag.lower() in {t.lower() for t in product.tags}:
            return False
        product.tag_rows.append(ProductTag(tag=tag))
    elif action == "remove_tag":
        rows = [r for r in product.tag_rows if r.tag.lower() == tag.lower()]
        if not rows:
            return False
        for row in rows:
            product.tag_rows.remove(row)
    elif action == "set_category":
        if product.category_id == category_id:
            return False
        product.category_id = category_id
    elif action == "change_price":
        return _bulk_change_price(product, by=by, percent=percent, amount=amount)
    product_changed(product)
    audit.record(by, f"product.bulk_{action}", product, before=before, after=product.snapshot())
    return True


def _bulk_change_price(
    product: Product, *, by: Any, percent: Decimal | None, amount: int | None
) -> bool:
    changed = False
    for variant in product.variants:
        new = (
            scale_amount(variant.price, percent=percent)
            if percent is not None
            else variant.price + amount
        )
        if new < 0:
            raise ValidationError(
                f"{product.title} ({variant.sku or variant.title}) would get a negative price.",
                field="amount",
            )
        if new > MAX_PRICE:
            raise ValidationError(
                f"{product.title} ({variant.sku or variant.title}) would get a price above "
                f"{format_amount_plain(MAX_PRICE, variant.currency)}.",
                field="amount",
            )
        if new != variant.price:
            audit.record(
                by,
                "variant.bulk_change_price",
                variant,
                before={"price": variant.price},
                after={"price": new},
            )
            variant.price = new
            changed = True
    if changed:
        refresh_price_range(product)
        product_changed(product)
    return changed
