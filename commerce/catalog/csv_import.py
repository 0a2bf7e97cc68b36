"""Import the catalog from CSV (ours or Shopify's): a dry run first, then all rows or none.

Both the dry run and the import run every product through the catalog services (so the rules,
audit entries and outbox events are the services' own) inside one transaction. The dry run
always rolls it back; the import commits only when no row has an error. A failing product is
rolled back to its savepoint so the run goes on and reports every bad row at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from commerce.audit import field_label, is_money_key
from commerce.catalog.bundles import components_of, set_bundle_components, variants_by_sku
from commerce.catalog.csv_format import (
    IMAGE_COLUMNS,
    VARIANT_COLUMNS,
    ImageLine,
    ParsedFile,
    ProductPlan,
    RowError,
    VariantLine,
    read_catalog_csv,
)
from commerce.catalog.csv_images import downloaded_images, find_media, source_name
from commerce.catalog.media import (
    add_external_image,
    add_image,
    move_image,
    set_variant_image,
    update_image_alt,
)
from commerce.catalog.models import (
    Category,
    Collection,
    CollectionProduct,
    Media,
    Product,
    Variant,
)
from commerce.catalog.services import (
    add_variant,
    create_product,
    set_options,
    shop_currency,
    update_product,
    update_variant,
)
from commerce.db import transaction, workflow
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.money import format_money

OPENING_STOCK = "catalog.opening_stock"  # app.extensions key: see OpeningStock


class OpeningStock(Protocol):
    """Books the file's quantities as opening stock (variant, quantity, row), inside the
    import's transaction, and notes what it did on the report. Inventory provides it
    (commerce.inventory.opening_stock); the app wires it in (wsgi.create_app)."""

    def __call__(
        self, lines: list[tuple[Variant, int, int]], report: ImportReport, *, by: Any
    ) -> None: ...


Progress = Callable[[int, int, str], None]
MAX_REPORTED_ERRORS = 500
MAX_LISTED_PRODUCTS = 200  # the dry run's list of what it would create or change
_CHUNK = 500
_CREATE_FIELDS = ("sku", "barcode", "price", "compare_at_price", "weight_grams")
# Service field names -> our column names, so a service's message lands in the right cell.
_SERVICE_FIELDS = {
    "category_id": "category",
    "collection_ids": "collections",
    "options": "option1_value",
    "quantity": "inventory_qty",
    "image": "image_src",
    "url": "image_src",
}
_OPTION_FIELD_RE = re.compile(r"^option(\d)_values$")


@dataclass
class ImportReport:
    """What a dry run found (or an import did): counts, row errors and notes."""

    format: str = ""
    dry_run: bool = True
    rows: int = 0
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    images_added: int = 0
    stock_units: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Each product created or changed: {handle, title, row, action, changes}, in file order.
    products: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, error: RowError) -> None:
        """Keep the first message per cell: the file's own check speaks before the services
        repeat the same problem in their words."""
        if not any(e.row == error.row and e.column == error.column for e in self.errors):
            self.errors.append(error)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = [e.as_dict() for e in sorted(self.errors, key=lambda e: e.row)][
            :MAX_REPORTED_ERRORS
        ]
        data["error_count"] = len(self.errors)
        data["ok"] = self.ok
        return data


class _ProductFailed(Exception):
    """A product's rows have errors (already recorded); its savepoint is rolled back."""


class _Discard(Exception):
    """Leave the transaction without committing (dry run, or an import with errors)."""


@workflow
def check_import(path: Path, *, by: Any, progress: Progress | None = None) -> ImportReport:
    """Dry run: validate every row against the database and count what would change."""
    return _run(path, by=by, dry_run=True, progress=progress)


@workflow
def apply_import(path: Path, *, by: Any, progress: Progress | None = None) -> ImportReport:
    """Validate again and apply every row in one transaction; any error writes nothing."""
    return _run(path, by=by, dry_run=False, progress=progress)


def read_upload(path: Path) -> ParsedFile:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return read_catalog_csv(fh, currency=shop_currency())


def _run(path: Path, *, by: Any, dry_run: bool, progress: Progress | None) -> ImportReport:
    parsed = read_upload(path)
    report = ImportReport(format=parsed.format, dry_run=dry_run, rows=parsed.rows)
    for error in parsed.errors:
        report.add_error(error)
    report.notes.extend(parsed.notes)
    fetch = not dry_run and not report.errors and current_app.config["IMPORT_FETCH_IMAGES"]
    with downloaded_images(parsed if fetch else None, progress=progress) as fetched:
        importer = _Importer(parsed, report, by=by, dry_run=dry_run, fetched=fetched)
        try:
            with transaction():
                importer.run(progress)
                if dry_run or report.errors:
                    raise _Discard
        except _Discard:
            pass
    if progress:
        progress(len(parsed.products), len(parsed.products), "Finishing")
    if report.errors and not dry_run:  # nothing was written: say so in the counts too
        kept = ImportReport(format=report.format, dry_run=False, rows=report.rows)
        kept.errors, kept.notes = report.errors, report.notes
        return kept
    return report


class _Importer:
    """One pass over the products of a file, through the catalog services."""

    def __init__(
        self,
        parsed: ParsedFile,
        report: ImportReport,
        *,
        by: Any,
        dry_run: bool,
        fetched: dict[str, Path],
    ) -> None:
        self.parsed, self.report, self.by = parsed, report, by
        self.dry_run, self.fetched = dry_run, fetched
        self.stock: list[tuple[Variant, int, int]] = []

    # -- errors ---------------------------------------------------------------------------------

    def error(self, row: int, name: str, message: str) -> None:
        self.report.add_error(RowError(row, self.parsed.column(name), message))

    @contextmanager
    def rows_of(
        self, plan: ProductPlan, line: VariantLine | None = None, image: ImageLine | None = None
    ) -> Iterator[None]:
        """Turn a service's error into row errors at the cells it names."""
        try:
            yield
        except CommerceError as exc:
            errors = getattr(exc, "errors", None) or {exc.field or "": [exc.message]}
            for name, messages in errors.items():
                option = _OPTION_FIELD_RE.match(name)
                column = f"option{option[1]}_value" if option else _SERVICE_FIELDS.get(name, name)
                row = plan.row
                if image is not None and column in IMAGE_COLUMNS:
                    row = image.row
                elif line is not None and (column in VARIANT_COLUMNS or not column):
                    row = line.row
                for message in messages:
                    self.error(row, column, message)
            raise _ProductFailed from exc

    # -- the pass -------------------------------------------------------------------------------

    def run(self, progress: Progress | None) -> None:
        plans = self.parsed.products
        self.lookups = _Lookups.load(plans)
        for plan in plans:
            self.check_references(plan)
        verb = "Checking" if self.dry_run else "Importing"
        for done, plan in enumerate(plans, start=1):
            savepoint = db.session.begin_nested()
            try:
                self.import_product(plan)
            except _ProductFailed:
                savepoint.rollback()
            else:
                savepoint.commit()
            if progress and (done % 50 == 0 or done == len(plans)):
                progress(done, len(plans), f"{verb} products")
        if "bundle_components" in self.parsed.headers:
            self.set_bundles(plans)
        if not self.report.errors and self.stock:
            # Inventory sits above the catalog: the app wires in who books the stock.
            book: OpeningStock = current_app.extensions[OPENING_STOCK]
            book(self.stock, self.report, by=self.by)

    def set_bundles(self, plans: list[ProductPlan]) -> None:
        """The file's "bundle_components", once every product of it is in (a bundle may name
        components further down the file): each SKU must exist, errors at the row."""
        lines = [
            line
            for plan in plans
            for line in plan.variants
            if line.bundle is not None and id(line) in self.lookups.variant_of
        ]
        db.session.flush()
        known = variants_by_sku(sku for line in lines for sku, _ in line.bundle or [])
        for line in lines:
            bundle = self.lookups.variant_of[id(line)]
            missing = [sku for sku, _ in line.bundle or [] if sku not in known]
            if missing:
                self.error(line.row, "bundle_components", f"Unknown SKU “{missing[0]}”.")
                continue
            wanted = [(known[sku].id, quantity) for sku, quantity in line.bundle or []]
            if components_of([bundle.id]).get(bundle.id, []) == wanted:
                continue
            try:
                with db.session.begin_nested():
                    set_bundle_components(bundle, wanted, by=self.by)
            except CommerceError as exc:
                errors = getattr(exc, "errors", None) or {"": [exc.message]}
                for messages in errors.values():
                    for message in messages:
                        self.error(line.row, "bundle_components", message)
                continue
            self.report.notes.append(
                f"Row {line.row}: {bundle.sku or 'the variant'} "
                + (f"is a bundle of {len(wanted)} component(s)." if wanted else "is no bundle now.")
            )

    def check_references(self, plan: ProductPlan) -> None:
        """What the file names must exist: category, collections; SKUs may not be taken."""
        if plan.category and plan.category not in self.lookups.categories:
            if self.parsed.format == "shopify":
                self.report.notes.append(
                    f"Row {plan.row}: category “{plan.category}” is not one of ours; "
                    "the product keeps its current category."
                )
                plan.category = None
            else:
                self.error(plan.row, "category", f"Unknown category “{plan.category}”.")
        for handle in plan.collections or []:
            collection = self.lookups.collections.get(handle)
            if collection is None:
                self.error(plan.row, "collections", f"Unknown collection “{handle}”.")
            elif collection.kind != "manual":
                self.error(
                    plan.row,
                    "collections",
                    f"“{handle}” is a rule-based collection: its rules choose its products.",
                )
        for line in plan.variants:
            owner = self.lookups.sku_owner.get(line.sku or "")
            if owner is not None and owner != plan.handle:
                self.error(line.row, "sku", f"SKU “{line.sku}” is already used by “{owner}”.")

    def note(self, change: str) -> None:
        """One thing this product's rows change, for the report's list."""
        self.changes.append(change)

    def listed(self, plan: ProductPlan, product: Product, action: str) -> None:
        if len(self.report.products) < MAX_LISTED_PRODUCTS:
            self.report.products.append(
                {
                    "handle": plan.handle,
                    "title": product.title,
                    "row": plan.row,
                    "action": action,
                    "changes": list(dict.fromkeys(self.changes)),
                }
            )

    def import_product(self, plan: ProductPlan) -> None:
        self.changes: list[str] = []
        fields = dict(plan.fields)
        if plan.category is not None:
            fields["category_id"] = self.lookups.categories.get(plan.category)
        product = self.lookups.products.get(plan.handle)
        if product is None:
            product = self.create(plan, fields)
            changed = True
            self.report.products_created += 1
        else:
            changed = self.update(plan, product, fields)
        changed |= self.set_collections(plan, product)
        changed |= self.import_images(plan, product)
        changed |= self.link_variant_images(plan, product)
        if product.id in self.lookups.created_ids:
            count = len(product.variants)
            self.changes.insert(0, f"{count} variant{'' if count == 1 else 's'}")
            self.listed(plan, product, "create")
        elif changed:
            self.report.products_updated += 1
            self.listed(plan, product, "update")
        else:
            self.report.products_unchanged += 1
        for line in plan.variants:
            if line.inventory_qty:
                self.stock.append((self.lookups.variant_of[id(line)], line.inventory_qty, line.row))

    # -- products and variants ------------------------------------------------------------------

    def create(self, plan: ProductPlan, fields: dict[str, Any]) -> Product:
        if not plan.variants:
            self.error(plan.row, "price", "A new product needs a variant with a price.")
            raise _ProductFailed
        first = plan.variants[0]
        first_fields = {k: v for k, v in first.fields.items() if k in _CREATE_FIELDS}
        first_fields.setdefault("price", None)
        with self.rows_of(plan, first):
            product = create_product(handle=plan.handle, by=self.by, **fields, **first_fields)
        self.lookups.created_ids.add(product.id)
        self.report.variants_created += 1
        self.set_options(plan, product)
        variant = product.variants[0]
        self.lookups.variant_of[id(first)] = variant
        rest = {k: v for k, v in first.fields.items() if k not in _CREATE_FIELDS}
        if first.options or rest:
            with self.rows_of(plan, first):
                update_variant(variant, by=self.by, options=first.options, **rest)
        for line in plan.variants[1:]:
            self.add_variant(plan, product, line)
        return product

    def update(self, plan: ProductPlan, product: Product, fields: dict[str, Any]) -> bool:
        before = product.snapshot()
        with self.rows_of(plan):
            update_product(product, by=self.by, **fields)
        after = product.snapshot()
        changed = after != before
        for key in after:
            if before.get(key) != after.get(key):
                self.note(_change(key, before.get(key), after.get(key)))
        matches = self.match_variants(plan, product)
        changed |= self.set_options(plan, product, matches)
        for line in plan.variants:
            variant = matches.get(id(line))
            if variant is None:
                self.add_variant(plan, product, line)
                changed = True
                continue
            self.lookups.variant_of[id(line)] = variant
            line_fields = dict(line.fields)
            if plan.option_names is not None:
                line_fields["options"] = line.options
            snapshot = variant.snapshot()
            with self.rows_of(plan, line):
                update_variant(variant, by=self.by, **line_fields)
            now = variant.snapshot()
            if now != snapshot:
                self.report.variants_updated += 1
                changed = True
                label = variant.sku or variant.title
                for key in now:
                    if snapshot.get(key) != now.get(key):
                        self.note(f"{label}: {_change(key, snapshot.get(key), now.get(key))}")
        return changed

    def add_variant(self, plan: ProductPlan, product: Product, line: VariantLine) -> None:
        fields = dict(line.fields)
        fields.setdefault("price", None)
        with self.rows_of(plan, line):
            variant = add_variant(product, by=self.by, options=line.options, **fields)
        self.lookups.variant_of[id(line)] = variant
        self.report.variants_created += 1
        if product.id not in self.lookups.created_ids:
            self.note(f"new variant {variant.sku or variant.title}")

    def match_variants(self, plan: ProductPlan, product: Product) -> dict[int, Variant]:
        """Rows find their variant by SKU, else by option values; a lone default variant
        without options is taken over by the first row, as generate_variants does."""
        variants = list(product.variants)
        by_sku = {v.sku: v for v in variants if v.sku}
        matches: dict[int, Variant] = {}
        taken: set[int] = set()
        for line in plan.variants:
            variant = by_sku.get(line.sku or "")
            if variant is not None:
                matches[id(line)] = variant
                taken.add(variant.id)
        by_options = {v.option_values: v for v in variants if v.id not in taken}
        for line in plan.variants:
            if id(line) in matches or plan.option_names is None:
                continue
            variant = by_options.pop(line.options, None)
            if variant is None and len(variants) == 1 and not variants[0].option_values:
                variant = by_options.pop((), None)
            if variant is not None:
                matches[id(line)] = variant
                taken.add(variant.id)
        return matches

    def set_options(
        self, plan: ProductPlan, product: Product, matches: dict[int, Variant] | None = None
    ) -> bool:
        """Options as the file names them; values only grow while the names stay the same."""
        if plan.option_names is None:
            return False
        wanted = plan.option_values()
        current = [(o.name, list(o.values)) for o in product.options]
        if [n for n, _ in wanted] == [n for n, _ in current]:
            merged = [
                (name, values + [v for v in new if v not in values])
                for (name, values), (_, new) in zip(current, wanted, strict=True)
            ]
            if merged == current:
                return False
            wanted = merged
        elif matches is not None:
            left = [v for v in product.variants if v not in matches.values()]
            if left:
                labels = ", ".join(v.sku or v.title for v in left[:5])
                self.error(
                    plan.row,
                    "option1_name",
                    "The options change, so every variant of the product must be in the file "
                    f"(missing: {labels}).",
                )
                raise _ProductFailed
        with self.rows_of(plan):
            set_options(product, wanted, by=self.by)
        if product.id not in self.lookups.created_ids:
            self.note("options: " + "; ".join(f"{n} ({', '.join(v)})" for n, v in wanted))
        return True

    def set_collections(self, plan: ProductPlan, product: Product) -> bool:
        if plan.collections is None:
            return False
        known = [self.lookups.collections.get(h) for h in plan.collections]
        wanted = sorted({c.id for c in known if c is not None and c.kind == "manual"})
        current = sorted(self.lookups.memberships.get(product.id, set()))
        if wanted == current:
            return False
        with self.rows_of(plan):
            update_product(product, by=self.by, collection_ids=wanted)
        if product.id not in self.lookups.created_ids:
            self.note("collections: " + (", ".join(plan.collections) or "none"))
        return product.id not in self.lookups.created_ids

    # -- images and stock -----------------------------------------------------------------------

    def import_images(self, plan: ProductPlan, product: Product) -> bool:
        changed = False
        ordered: list[tuple[int, int, Media]] = []
        for index, image in enumerate(plan.images):
            media = find_media(product.media, image.src)
            with self.rows_of(plan, image=image):
                if media is None:
                    media = self.add_image(product, image)
                    self.note(f"new image {source_name(image.src)}")
                    changed = True
                elif image.alt is not None and media.alt != image.alt:
                    update_image_alt(media, alt=image.alt, by=self.by)
                    self.note(f"image {source_name(image.src)}: alt text")
                    changed = True
            ordered.append((image.position or 10**6, index, media))
        for to_position, (_, _, media) in enumerate(sorted(ordered, key=lambda t: t[:2]), 1):
            if media.position != to_position:
                move_image(media, to_position=to_position, by=self.by)
                self.note("image order")
                changed = True
        return changed

    def link_variant_images(self, plan: ProductPlan, product: Product) -> bool:
        """Each row's Variant Image becomes its variant's image (the image rows came first)."""
        changed = False
        for line in plan.variants:
            variant = self.lookups.variant_of.get(id(line))
            if not line.image_src or variant is None:
                continue
            media = find_media(product.media, line.image_src)
            if media is None or variant.image_id == media.id:
                continue
            with self.rows_of(plan, line):
                set_variant_image(variant, media, by=self.by)
            if product.id not in self.lookups.created_ids:
                self.note(f"{variant.sku or variant.title}: image {source_name(line.image_src)}")
                changed = True
        return changed

    def add_image(self, product: Product, image: ImageLine) -> Media:
        self.report.images_added += 1
        stored = self.fetched.get(image.src)
        if stored is not None:
            name = source_name(image.src)
            try:
                return add_image(
                    product,
                    data=stored.read_bytes(),
                    filename=name,
                    alt=image.alt or "",
                    by=self.by,
                )
            except ValidationError:
                pass  # not an image we can store: keep the link, as for a failed download
        return add_external_image(product, url=image.src, alt=image.alt or "", by=self.by)


def _change(key: str, before: Any, after: Any) -> str:
    """A changed field as the report lists it: "price: $50.00 → $55.00"."""

    def shown(value: Any) -> str:
        if is_money_key(key) and isinstance(value, int):
            return format_money(value, shop_currency())
        text = "—" if value in (None, "", [], {}) else str(value)
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "—"
        return text if len(text) <= 40 else text[:39] + "…"

    return f"{field_label(key).lower()}: {shown(before)} → {shown(after)}"


@dataclass
class _Lookups:
    """What the rows refer to, read in a few queries up front rather than per row."""

    categories: dict[str, int]
    collections: dict[str, Collection]
    products: dict[str, Product]
    sku_owner: dict[str, str]
    memberships: dict[int, set[int]]
    created_ids: set[int] = field(default_factory=set)
    variant_of: dict[int, Variant] = field(default_factory=dict)

    @classmethod
    def load(cls, plans: list[ProductPlan]) -> _Lookups:
        handles = [p.handle for p in plans]
        skus = [line.sku for p in plans for line in p.variants if line.sku]
        products: dict[str, Product] = {}
        sku_owner: dict[str, str] = {}
        for chunk in _chunks(handles):
            for product in db.session.scalars(
                select(Product)
                .where(Product.handle.in_(chunk))
                .options(
                    selectinload(Product.variants),
                    selectinload(Product.options),
                    selectinload(Product.media),
                )
            ):
                products[product.handle] = product
        for chunk in _chunks(skus):
            for sku, handle in db.session.execute(
                select(Variant.sku, Product.handle).join(Product).where(Variant.sku.in_(chunk))
            ):
                sku_owner[sku] = handle
        memberships: dict[int, set[int]] = {}
        for chunk in _chunks([p.id for p in products.values()]):
            for product_id, collection_id in db.session.execute(
                select(CollectionProduct.product_id, CollectionProduct.collection_id).where(
                    CollectionProduct.product_id.in_(chunk)
                )
            ):
                memberships.setdefault(product_id, set()).add(collection_id)
        return cls(
            categories={
                n: i for n, i in db.session.execute(select(Category.full_name, Category.id))
            },
            collections={c.handle: c for c in db.session.scalars(select(Collection))},
            products=products,
            sku_owner=sku_owner,
            memberships=memberships,
        )


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
