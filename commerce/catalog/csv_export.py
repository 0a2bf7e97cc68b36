"""Export the (filtered) catalog as our CSV format, streamed in batches.

One row per variant; the product's first row also carries the product columns, and image i
rides on row i (extra rows carry only the handle and image columns when a product has more
images than variants). The import reads this file back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from commerce.catalog.bundles import components_of, format_components
from commerce.catalog.csv_format import COLUMNS
from commerce.catalog.models import Collection, CollectionProduct, Media, Product, Variant
from commerce.catalog.queries import ProductFilter, filtered_products
from commerce.csv_safe import BOM, SafeCsv
from commerce.extensions import db
from commerce.money import format_amount_plain

MediaUrl = Callable[[Media], str]
BATCH = 500


def export_catalog_csv(
    flt: ProductFilter, *, media_url: MediaUrl, batch_size: int = BATCH
) -> Iterator[str]:
    """CSV text in chunks, one batch of products at a time, so memory stays flat at 50,000.

    `media_url` gives the public, absolute URL of a stored image (the web face knows routes).
    The text starts with a byte-order mark so spreadsheet programs read it as UTF-8.
    """
    out = SafeCsv(quote_all=False)  # cells a spreadsheet would run get a quote (csv_safe)
    out.row(COLUMNS)
    yield BOM + out.take()
    ids_query = filtered_products(flt).with_only_columns(Product.id).order_by(Product.id)
    last_id = 0
    while True:
        ids = list(db.session.scalars(ids_query.where(Product.id > last_id).limit(batch_size)))
        if not ids:
            return
        last_id = ids[-1]
        products = db.session.scalars(
            select(Product)
            .where(Product.id.in_(ids))
            .order_by(Product.id)
            .options(
                selectinload(Product.variants),
                selectinload(Product.options),
                selectinload(Product.media),
                selectinload(Product.tag_rows),
            )
        ).all()
        collections = _collection_handles(ids)
        bundles = _bundle_cells([v.id for p in products for v in p.variants])
        for product in products:
            for row in product_rows(product, collections.get(product.id, []), media_url, bundles):
                out.row(row)
        for product in products:
            db.session.expunge(product)  # the batch is written: let it go
        yield out.take()


def product_rows(
    product: Product,
    collections: list[str],
    media_url: MediaUrl,
    bundles: dict[int, str] | None = None,
) -> list[list[str]]:
    variants = list(product.variants)
    images = sorted(product.media, key=lambda m: (m.position, m.id))
    rows = []
    for index in range(max(len(variants), len(images), 1)):
        row = dict.fromkeys(COLUMNS, "")
        row["handle"] = product.handle
        if index == 0:
            row.update(_product_columns(product, collections))
        if index < len(variants):
            variant = variants[index]
            currency = variant.currency
            row.update(
                option1_value=variant.option1 or "",
                option2_value=variant.option2 or "",
                option3_value=variant.option3 or "",
                sku=variant.sku or "",
                barcode=variant.barcode or "",
                price=format_amount_plain(variant.price, currency),
                compare_at_price=(
                    format_amount_plain(variant.compare_at_price, currency)
                    if variant.compare_at_price is not None
                    else ""
                ),
                cost="" if variant.cost is None else format_amount_plain(variant.cost, currency),
                weight_grams="" if variant.weight_grams is None else str(variant.weight_grams),
                inventory_policy=variant.inventory_policy,
                bundle_components=(bundles or {}).get(variant.id, ""),
            )
        if index < len(images):
            media = images[index]
            row.update(
                image_src=media.external_url if media.kind == "external" else media_url(media),
                image_alt=media.alt or "",
                image_position=str(index + 1),
            )
        rows.append([row[c] for c in COLUMNS])
    return rows


def _product_columns(product: Product, collections: list[str]) -> dict[str, str]:
    columns = {
        "title": product.title,
        "description": product.description or "",
        "description_format": product.description_format,
        "status": product.status,
        "vendor": product.vendor or "",
        "product_type": product.product_type or "",
        "tags": ", ".join(product.tags),
        "category": product.category.full_name if product.category else "",
        "collections": ";".join(collections),
        "seo_title": product.seo_title or "",
        "seo_description": product.seo_description or "",
    }
    for index, option in enumerate(sorted(product.options, key=lambda o: o.position), start=1):
        columns[f"option{index}_name"] = option.name
    return columns


def _bundle_cells(variant_ids: list[int]) -> dict[int, str]:
    """The "bundle_components" cell of each bundle among these variants (two queries)."""
    parts = components_of(variant_ids)
    if not parts:
        return {}
    skus = dict(
        db.session.execute(
            select(Variant.id, Variant.sku).where(
                Variant.id.in_({c for comps in parts.values() for c, _ in comps})
            )
        ).all()
    )
    return {
        bundle_id: format_components([(skus.get(c) or "", q) for c, q in comps])
        for bundle_id, comps in parts.items()
    }


def _collection_handles(product_ids: list[int]) -> dict[int, list[str]]:
    handles: dict[int, list[str]] = {}
    rows = db.session.execute(
        select(CollectionProduct.product_id, Collection.handle)
        .join(Collection, Collection.id == CollectionProduct.collection_id)
        .where(CollectionProduct.product_id.in_(product_ids), Collection.kind == "manual")
        .order_by(CollectionProduct.product_id, Collection.handle)
    )
    for product_id, handle in rows:
        handles.setdefault(product_id, []).append(handle)
    return handles
