"""Products and their variants: list (keyset pages), read, create, update (If-Match)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import request, url_for
from pydantic import BaseModel, Field
from spectree import Response as Responses

from api.schemas import (
    Id,
    Links,
    Money,
    MoneyIn,
    PageQuery,
    check_currency,
    etag_of,
    money,
    next_link,
    page_limit,
    paged,
    require_match,
)
from api.web import ApiModel, Problem, actor, bp, scope, security, spec, timestamp
from commerce.catalog.models import Product, Variant
from commerce.catalog.queries import products_after
from commerce.catalog.services import (
    add_variant,
    create_product,
    get_product,
    get_variant,
    set_options,
    shop_currency,
    update_product,
    update_variant,
)

TAG = "products"
Status = Literal["draft", "active", "archived"]


class VariantOut(BaseModel):
    id: int
    product_id: int
    title: str
    sku: str | None
    barcode: str | None
    options: list[str]
    price: Money
    compare_at_price: Money | None
    weight_grams: int | None
    inventory_policy: str
    position: int
    created_at: str | None
    updated_at: str | None


class OptionOut(BaseModel):
    name: str
    values: list[str]


class PriceRange(BaseModel):
    min: Money
    max: Money


class ProductOut(BaseModel):
    id: int
    title: str
    handle: str
    status: str
    description: str
    vendor: str
    product_type: str
    tags: list[str]
    category_id: int | None
    options: list[OptionOut]
    price_range: PriceRange
    variants: list[VariantOut]
    published_at: str | None
    created_at: str | None
    updated_at: str | None


class ProductPage(BaseModel):
    data: list[ProductOut]
    links: Links


class ProductListQuery(PageQuery):
    status: Status | None = None


class ProductCreate(ApiModel):
    title: str = Field(min_length=1, max_length=255)
    handle: str | None = None
    status: Status = "draft"
    description: str = ""
    vendor: str = ""
    product_type: str = ""
    tags: list[str] = Field(default_factory=list)
    category_id: Id | None = None
    price: MoneyIn = Field(description="The first variant's price.")
    compare_at_price: MoneyIn | None = None
    sku: str | None = None
    barcode: str | None = None
    weight_grams: int | None = None


class ProductUpdate(ApiModel):
    """Only the fields sent change."""

    title: str | None = Field(None, min_length=1, max_length=255)
    handle: str | None = None
    status: Status | None = None
    description: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    tags: list[str] | None = None
    category_id: Id | None = None


class OptionIn(ApiModel):
    name: str = Field(min_length=1, max_length=80)
    values: list[str] = Field(min_length=1)


class OptionsIn(ApiModel):
    """The product's options, replacing those it has (at most three)."""

    options: list[OptionIn] = Field(max_length=3)


class VariantCreate(ApiModel):
    options: list[str] = Field(
        default_factory=list, description="One value per product option, in their order."
    )
    price: MoneyIn | None = Field(None, description="The first variant's price when absent.")
    compare_at_price: MoneyIn | None = None
    sku: str | None = None
    barcode: str | None = None
    weight_grams: int | None = None
    inventory_policy: Literal["deny", "continue"] = "deny"


class VariantUpdate(ApiModel):
    """Only the fields sent change."""

    sku: str | None = None
    barcode: str | None = None
    price: MoneyIn | None = None
    compare_at_price: MoneyIn | None = None
    weight_grams: int | None = None
    inventory_policy: Literal["deny", "continue"] | None = None
    low_stock_threshold: int | None = None


def _when(value: datetime | None) -> str | None:
    return timestamp(value)


def render_variant(variant: Variant) -> VariantOut:
    return VariantOut(
        id=variant.id,
        product_id=variant.product_id,
        title=variant.title,
        sku=variant.sku,
        barcode=variant.barcode,
        options=list(variant.option_values),
        price=Money(amount=variant.price, currency=variant.currency),
        compare_at_price=money(variant.compare_at_price, variant.currency),
        weight_grams=variant.weight_grams,
        inventory_policy=variant.inventory_policy,
        position=variant.position,
        created_at=_when(variant.created_at),
        updated_at=_when(variant.updated_at),
    )


def render_product(product: Product) -> ProductOut:
    currency = product.currency
    return ProductOut(
        id=product.id,
        title=product.title,
        handle=product.handle,
        status=product.status,
        description=product.description,
        vendor=product.vendor,
        product_type=product.product_type,
        tags=product.tags,
        category_id=product.category_id,
        options=[
            OptionOut(name=o.name, values=list(o.values))
            for o in sorted(product.options, key=lambda o: o.position)
        ],
        price_range=PriceRange(
            min=Money(amount=product.min_price, currency=currency),
            max=Money(amount=product.max_price, currency=currency),
        ),
        variants=[render_variant(v) for v in sorted(product.variants, key=lambda v: v.position)],
        published_at=_when(product.published_at),
        created_at=_when(product.created_at),
        updated_at=_when(product.updated_at),
    )


def _with_etag(body: BaseModel, status: int = 200, **headers: str) -> tuple:
    return body, status, {"ETag": etag_of(body), **headers}


@bp.get("/products")
@scope("products:read")
@spec.validate(
    query=ProductListQuery,
    resp=Responses(HTTP_200=ProductPage, HTTP_400=Problem, HTTP_401=Problem, HTTP_403=Problem),
    tags=[TAG],
    security=security("products:read"),
)
def list_products() -> tuple:
    """List products, oldest first, a page at a time

    Keyset pages: follow `links.next` (also in the `Link` header) until it is absent."""
    query: ProductListQuery = request.context.query  # type: ignore[attr-defined]
    limit = page_limit(query.limit)
    products, cursor = products_after(query.cursor, limit=limit, status=query.status)
    nxt = next_link("api.list_products", cursor, limit=query.limit, status=query.status)
    return paged(
        ProductPage(data=[render_product(p) for p in products], links=Links(next=nxt)), nxt
    )


@bp.get("/products/<int:product_id>", endpoint="get_product")
@scope("products:read")
@spec.validate(
    resp=Responses(HTTP_200=ProductOut, HTTP_401=Problem, HTTP_403=Problem, HTTP_404=Problem),
    tags=[TAG],
    security=security("products:read"),
)
def get_product_view(product_id: int) -> tuple:
    """Read a product with its variants

    The `ETag` header is the version to send back in `If-Match` when updating."""
    return _with_etag(render_product(get_product(product_id)))


@bp.post("/products", endpoint="create_product")
@scope("products:write")
@spec.validate(
    json=ProductCreate,
    resp=Responses(
        HTTP_201=ProductOut,
        HTTP_400=Problem,
        HTTP_401=Problem,
        HTTP_403=Problem,
        HTTP_409=Problem,
    ),
    tags=[TAG],
    security=security("products:write"),
)
def create_product_view() -> tuple:
    """Create a product with its first variant"""
    body: ProductCreate = request.context.json  # type: ignore[attr-defined]
    currency = shop_currency()
    fields = body.model_dump(exclude={"price", "compare_at_price"})
    product = create_product(
        by=actor(),
        price=check_currency(body.price, currency, "price"),
        compare_at_price=check_currency(body.compare_at_price, currency, "compare_at_price"),
        **fields,
    )
    location = url_for("api.get_product", product_id=product.id, _external=True)
    return _with_etag(render_product(product), 201, Location=location)


@bp.patch("/products/<int:product_id>", endpoint="update_product")
@scope("products:write")
@spec.validate(
    json=ProductUpdate,
    resp=Responses(
        HTTP_200=ProductOut,
        HTTP_400=Problem,
        HTTP_401=Problem,
        HTTP_403=Problem,
        HTTP_404=Problem,
        HTTP_412=Problem,
        HTTP_428=Problem,
    ),
    tags=[TAG],
    security=security("products:write"),
)
def update_product_view(product_id: int) -> tuple:
    """Change a product's fields

    Send `If-Match` with the ETag you read: 412 when the product changed since."""
    body: ProductUpdate = request.context.json  # type: ignore[attr-defined]
    product = get_product(product_id)
    require_match(etag_of(render_product(product)))
    product = update_product(
        product,
        by=actor(),
        expected_version=product.updated_at,  # checked again inside the write
        **body.model_dump(exclude_unset=True),
    )
    return _with_etag(render_product(product))


@bp.patch("/variants/<int:variant_id>", endpoint="update_variant")
@scope("products:write")
@spec.validate(
    json=VariantUpdate,
    resp=Responses(
        HTTP_200=ProductOut,
        HTTP_400=Problem,
        HTTP_401=Problem,
        HTTP_403=Problem,
        HTTP_404=Problem,
        HTTP_412=Problem,
        HTTP_428=Problem,
    ),
    tags=[TAG],
    security=security("products:write"),
)
def update_variant_view(variant_id: int) -> tuple:
    """Change a variant's price, SKU, barcode, weight or stock policy

    `If-Match` takes the ETag of the variant's product; the answer is the product."""
    body: VariantUpdate = request.context.json  # type: ignore[attr-defined]
    variant = get_variant(variant_id)
    require_match(etag_of(render_product(variant.product)))
    fields = body.model_dump(exclude_unset=True, exclude={"price", "compare_at_price"})
    currency = shop_currency()
    for name in ("price", "compare_at_price"):
        if name in body.model_fields_set:
            fields[name] = check_currency(getattr(body, name), currency, name)
    update_variant(variant, by=actor(), expected_version=variant.product.updated_at, **fields)
    return _with_etag(render_product(get_product(variant.product_id)))


@bp.put("/products/<int:product_id>/options", endpoint="set_options")
@scope("products:write")
@spec.validate(
    json=OptionsIn,
    resp=Responses(
        HTTP_200=ProductOut,
        HTTP_400=Problem,
        HTTP_401=Problem,
        HTTP_403=Problem,
        HTTP_404=Problem,
        HTTP_412=Problem,
        HTTP_428=Problem,
    ),
    tags=[TAG],
    security=security("products:write"),
)
def set_options_view(product_id: int) -> tuple:
    """Set a product's options (Size, Colour...) and their values

    Replaces the options it has; send `If-Match` with the ETag you read. Add the variants
    for the combinations you sell with `POST /products/{product_id}/variants`."""
    body: OptionsIn = request.context.json  # type: ignore[attr-defined]
    product = get_product(product_id)
    require_match(etag_of(render_product(product)))
    product = set_options(product, [(o.name, o.values) for o in body.options], by=actor())
    return _with_etag(render_product(product))


@bp.post("/products/<int:product_id>/variants", endpoint="create_variant")
@scope("products:write")
@spec.validate(
    json=VariantCreate,
    resp=Responses(
        HTTP_201=ProductOut,
        HTTP_400=Problem,
        HTTP_401=Problem,
        HTTP_403=Problem,
        HTTP_404=Problem,
    ),
    tags=[TAG],
    security=security("products:write"),
)
def create_variant_view(product_id: int) -> tuple:
    """Add a variant to a product

    `options` gives one value of each of the product's options; the answer is the product."""
    body: VariantCreate = request.context.json  # type: ignore[attr-defined]
    product = get_product(product_id)
    currency = shop_currency()
    fields = body.model_dump(exclude={"price", "compare_at_price"})
    if body.price is not None:
        fields["price"] = check_currency(body.price, currency, "price")
    if body.compare_at_price is not None:
        fields["compare_at_price"] = check_currency(
            body.compare_at_price, currency, "compare_at_price"
        )
    add_variant(product, by=actor(), **fields)
    location = url_for("api.get_product", product_id=product.id, _external=True)
    return _with_etag(render_product(get_product(product_id)), 201, Location=location)
