"""Catalog tables: products, their options and variants, categories, collections, media."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import utcnow
from commerce.extensions import db

DRAFT, ACTIVE, ARCHIVED = "draft", "active", "archived"
PRODUCT_STATUSES = (DRAFT, ACTIVE, ARCHIVED)
MARKDOWN, HTML = "markdown", "html"
MAX_OPTIONS = 3
DENY, CONTINUE = "deny", "continue"


class Category(db.Model):
    """A node of the nested category tree; `path_ids` ("/1/4/9/") finds descendants by prefix."""

    __tablename__ = "category"
    audit_type = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    handle: Mapped[str] = mapped_column(String(160), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("category.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    path_ids: Mapped[str] = mapped_column(String(255), default="/", index=True)
    full_name: Mapped[str] = mapped_column(String(600), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[Category | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)

    @property
    def depth(self) -> int:
        return self.path_ids.strip("/").count("/")

    @property
    def audit_label(self) -> str:
        return self.full_name or self.name

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "handle": self.handle,
            "parent_id": self.parent_id,
            "description": self.description,
            "position": self.position,
        }


# product_text() below as PostgreSQL prints its index back (so that the migrations test
# compares the index like any other).
PRODUCT_TEXT_SQL = "(((title || chr(10)) || handle) || chr(10)) || vendor"


class Product(db.Model):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'archived')", name="status_known"),
        CheckConstraint("description_format IN ('markdown', 'html')", name="format_known"),
        Index("ix_product_updated", "updated_at", "id"),
        Index("ix_product_created", "created_at", "id"),
        Index("ix_product_title", "title", "id"),
        Index("ix_product_price", "min_price", "id"),
        Index("ix_product_status", "status", "id"),
        # The list filtered by status in its default order (last updated), at 50,000 products.
        Index("ix_product_status_updated", "status", "updated_at", "id"),
        Index("ix_product_vendor", "vendor", "id"),
        # The console's quick search on PostgreSQL (product_text below; migration
        # 0015_console_text). SQLite has its FTS5 trigram tables (quick_search.py).
        Index(
            "ix_product_text_trgm",
            literal_column(f"({PRODUCT_TEXT_SQL})").label("product_text"),
            postgresql_using="gin",
            postgresql_ops={"product_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )
    audit_type = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    description_format: Mapped[str] = mapped_column(String(10), default=MARKDOWN)
    description_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=DRAFT)
    vendor: Mapped[str] = mapped_column(String(120), default="")
    product_type: Mapped[str] = mapped_column(String(120), default="")
    seo_title: Mapped[str] = mapped_column(String(255), default="")
    seo_description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("category.id", ondelete="SET NULL"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    # Denormalised from the variants (kept by the services) so the list sorts and filters
    # by price without a join at 50,000 products.
    min_price: Mapped[int] = mapped_column(default=0)
    max_price: Mapped[int] = mapped_column(default=0)
    variant_count: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime | None]
    # Sold as gift cards (commerce/giftcards): each unit paid for issues a card worth its
    # price; not discounted, not taxed, nothing to ship.
    is_gift_card: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    category: Mapped[Category | None] = relationship(lazy="joined")
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product",
        order_by="Variant.position, Variant.id",
        cascade="all, delete-orphan",
        lazy="select",
    )
    options: Mapped[list[OptionType]] = relationship(
        back_populates="product",
        order_by="OptionType.position",
        cascade="all, delete-orphan",
        lazy="select",
    )
    media: Mapped[list[Media]] = relationship(
        back_populates="product",
        order_by="Media.position, Media.id",
        cascade="all, delete-orphan",
        lazy="select",
    )
    tag_rows: Mapped[list[ProductTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ProductTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]

    @property
    def audit_label(self) -> str:
        return self.title

    def snapshot(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "handle": self.handle,
            "status": self.status,
            "vendor": self.vendor,
            "product_type": self.product_type,
            "description": self.description,
            "description_format": self.description_format,
            "seo_title": self.seo_title,
            "seo_description": self.seo_description,
            "category_id": self.category_id,
            "tags": self.tags,
            "is_gift_card": self.is_gift_card,
        }


class ProductTag(db.Model):
    __tablename__ = "product_tag"
    __table_args__ = (
        Index("ix_product_tag_tag", "tag", "product_id"),
        # Rule collections compare tags without case (migration 0015_console_text).
        Index("ix_product_tag_lower", func.lower(text("tag")), "product_id"),
    )

    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(80), primary_key=True)


class OptionType(db.Model):
    """An option of one product (Size, Colour) and its values in display order."""

    __tablename__ = "option_type"
    __table_args__ = (UniqueConstraint("product_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=1)
    values: Mapped[list[str]] = mapped_column(JSON, default=list)

    product: Mapped[Product] = relationship(back_populates="options")


class Variant(db.Model):
    __tablename__ = "variant"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(
            "compare_at_price IS NULL OR compare_at_price >= 0", name="compare_not_negative"
        ),
        CheckConstraint("weight_grams IS NULL OR weight_grams >= 0", name="weight_not_negative"),
        CheckConstraint("inventory_policy IN ('deny', 'continue')", name="policy_known"),
        # On PostgreSQL it holds the id and SKU too (0013_console_pg): the stock overview sorts
        # a product's variants by SKU from the index alone.
        Index("ix_variant_product", "product_id", "position", postgresql_include=["id", "sku"]),
        Index(
            "ix_variant_sku_trgm",
            "sku",
            postgresql_using="gin",
            postgresql_ops={"sku": "gin_trgm_ops"},
        ),
    )
    audit_type = "variant"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    barcode: Mapped[str | None] = mapped_column(String(64), index=True)
    price: Mapped[int] = mapped_column(default=0)
    compare_at_price: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    weight_grams: Mapped[int | None]
    option1: Mapped[str | None] = mapped_column(String(120))
    option2: Mapped[str | None] = mapped_column(String(120))
    option3: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=1)
    inventory_policy: Mapped[str] = mapped_column(String(10), default=DENY)
    low_stock_threshold: Mapped[int | None]
    # The weighted average unit cost in minor units of `currency` (commerce/inventory/costing.py
    # moves it on each receipt that names a cost; the CSV's "Cost per item" sets it). No CHECK
    # (on SQLite it would mean copying the table): the services refuse a negative cost.
    cost: Mapped[int | None]
    # The variant's own image among its product's (Shopify's Variant Image). No foreign key
    # (see migration 0018_variant_image): media.delete_image clears it.
    image_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(back_populates="variants")

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.option1, self.option2, self.option3) if v is not None)

    @property
    def title(self) -> str:
        return " / ".join(self.option_values) or "Default Title"

    @property
    def audit_label(self) -> str:
        return self.sku or f"variant {self.id}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "barcode": self.barcode,
            "price": self.price,
            "compare_at_price": self.compare_at_price,
            "cost": self.cost,
            "weight_grams": self.weight_grams,
            "options": list(self.option_values),
            "inventory_policy": self.inventory_policy,
        }


class BundleComponent(db.Model):
    """One component of a bundle variant (a gift box = 1 mug + 2 coffee bags): the bundle
    holds no stock of its own; selling it reserves, allocates and ships its components."""

    __tablename__ = "bundle_component"
    __table_args__ = (
        UniqueConstraint("bundle_variant_id", "component_variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("bundle_variant_id <> component_variant_id", name="not_itself"),
        Index("ix_bundle_component_component", "component_variant_id", "bundle_variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    # RESTRICT: a variant that is part of a bundle is taken out of it before it is deleted.
    component_variant_id: Mapped[int] = mapped_column(ForeignKey("variant.id", ondelete="RESTRICT"))
    quantity: Mapped[int]
    position: Mapped[int] = mapped_column(default=1)


class Collection(db.Model):
    """Manual (hand-picked, ordered) or rule-based (products matching conditions)."""

    __tablename__ = "collection"
    __table_args__ = (
        CheckConstraint("kind IN ('manual', 'rule')", name="kind_known"),
        CheckConstraint("match IN ('all', 'any')", name="match_known"),
        CheckConstraint(
            "sort IN ('manual', 'best-selling', 'newest', 'price-asc', 'price-desc', 'title')",
            name="sort_known",
        ),
    )
    audit_type = "collection"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(10), default="manual")
    match: Mapped[str] = mapped_column(String(5), default="all")
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The shop's order: "manual" (positions, manual collections only) or a rule; pinned
    # products come first, in this order, whatever the sort.
    sort: Mapped[str] = mapped_column(String(20), default="manual")
    pinned_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def audit_label(self) -> str:
        return self.title

    def snapshot(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "handle": self.handle,
            "description": self.description,
            "kind": self.kind,
            "match": self.match,
            "rules": self.rules,
            "sort": self.sort,
            "pinned_ids": list(self.pinned_ids or []),
        }


class CollectionProduct(db.Model):
    __tablename__ = "collection_product"
    __table_args__ = (Index("ix_collection_product_product", "product_id"),)

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collection.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(default=0)


class Media(db.Model):
    """A product image: a stored upload (with thumbnail) or an external URL reference."""

    __tablename__ = "media"
    __table_args__ = (
        CheckConstraint("kind IN ('file', 'external')", name="kind_known"),
        Index("ix_media_product", "product_id", "position"),
    )
    audit_type = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="file")
    path: Mapped[str | None] = mapped_column(String(255))
    thumb_path: Mapped[str | None] = mapped_column(String(255))
    external_url: Mapped[str | None] = mapped_column(String(2000))
    alt: Mapped[str] = mapped_column(String(512), default="")
    position: Mapped[int] = mapped_column(default=1)
    content_type: Mapped[str | None] = mapped_column(String(60))
    width: Mapped[int | None]
    height: Mapped[int | None]
    size_bytes: Mapped[int | None]
    original_filename: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="media")

    @property
    def audit_label(self) -> str:
        return self.original_filename or self.external_url or f"media {self.id}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "external_url": self.external_url,
            "alt": self.alt,
            "position": self.position,
        }


# The stock overview's default order (SKU, blank SKUs first): read in order from this index.
Index("ix_variant_sku_sort", func.coalesce(Variant.sku, ""), Variant.id)
# Ctrl+K's SKU prefix, compared without case (migration 0012_console_lists).
Index("ix_variant_sku_lower", func.lower(Variant.sku))


def product_text() -> Any:
    """A product's title, handle and vendor as one text (a line each): the console's quick
    search on PostgreSQL reads `ILIKE '%q%'` of it from one pg_trgm index. An expression no
    plain index holds, so the planner cannot prefer walking ix_product_title and testing
    every title (it prices ILIKE like an equality and took that walk: 35 ms at 50,000
    products, against 7 for the trigram index). The same expression as PRODUCT_TEXT_SQL, which
    the index is built on (tests/test_console_lists_pg.py checks that the index answers it)."""
    newline = literal_column("chr(10)")
    return Product.title + newline + Product.handle + newline + Product.vendor


@event.listens_for(db.metadata, "after_create")
def _quick_search_tables(_target: Any, connection: Any, **_kw: Any) -> None:
    """`db.create_all()` on SQLite makes the quick search's trigram tables too, as the migration
    does (commerce/catalog/quick_search.py)."""
    from commerce.catalog.quick_search import install

    install(connection)
