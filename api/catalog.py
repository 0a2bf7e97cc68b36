"""Categories, collections and product media, over the catalog's taxonomy and media services
(the same checks, events and audit entries as the console's editors)."""

from __future__ import annotations

from typing import Any, Literal

from flask import request, url_for
from pydantic import BaseModel, Field
from spectree import Response as Responses

from api.schemas import Id, Links, PageQuery, etag_of, next_link, page_limit, paged, require_match
from api.web import (
    ERRORS,
    ONE_ERRORS,
    ApiModel,
    Problem,
    actor,
    bp,
    scope,
    security,
    spec,
)
from api.web import timestamp as ts
from commerce.catalog.media import add_external_image
from commerce.catalog.models import Category, Collection, Media
from commerce.catalog.services import get_product
from commerce.catalog.taxonomy import (
    COLLECTION_SORTS,
    add_to_collection,
    create_category,
    create_collection,
    get_category,
    get_collection,
    remove_from_collection,
    update_category,
    update_collection,
)
from commerce.extensions import db
from commerce.paging import ids_after

TAG = "catalog"
# Writes answer with a record and its ETag; they may fail on a field (422), a stale If-Match
# (412), a missing one (428) or a taken handle (409).
UPDATE_ERRORS = {
    **ONE_ERRORS,
    "HTTP_409": Problem,
    "HTTP_412": Problem,
    "HTTP_422": Problem,
    "HTTP_428": Problem,
}
CREATE_ERRORS = {**ERRORS, "HTTP_404": Problem, "HTTP_409": Problem, "HTTP_422": Problem}
CollectionSort = Literal["manual", "best-selling", "newest", "price-asc", "price-desc", "title"]
assert set(CollectionSort.__args__) == set(COLLECTION_SORTS)  # type: ignore[attr-defined]


# -- categories ---------------------------------------------------------------------------------


class CategoryOut(BaseModel):
    id: int
    name: str
    full_name: str = Field(description="The names from the top of the tree, joined by ' / '.")
    handle: str
    description: str
    parent_id: int | None
    position: int
    depth: int
    created_at: str | None
    updated_at: str | None


class CategoryPage(BaseModel):
    data: list[CategoryOut]
    links: Links


class CategoryQuery(PageQuery):
    parent_id: Id | None = Field(None, description="Only the children of this category.")
    top_level: bool | None = Field(None, description="true: only the top of the tree.")


class CategoryCreate(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    parent_id: Id | None = None
    handle: str | None = Field(None, max_length=160, description="Made from the name if absent.")
    description: str = ""
    position: int | None = Field(None, ge=0, description="Last among its siblings if absent.")


class CategoryUpdate(ApiModel):
    """Only the fields sent change; `parent_id: null` moves it to the top of the tree."""

    name: str | None = Field(None, min_length=1, max_length=120)
    parent_id: Id | None = None
    handle: str | None = Field(None, max_length=160)
    description: str | None = None
    position: int | None = Field(None, ge=0)


def render_category(category: Category) -> CategoryOut:
    return CategoryOut(
        id=category.id,
        name=category.name,
        full_name=category.full_name or category.name,
        handle=category.handle,
        description=category.description,
        parent_id=category.parent_id,
        position=category.position,
        depth=category.depth,
        created_at=ts(category.created_at),
        updated_at=ts(category.updated_at),
    )


def _with_etag(body: BaseModel, status: int = 200, **headers: str) -> tuple:
    return body, status, {"ETag": etag_of(body), **headers}


@bp.get("/categories", endpoint="list_categories")
@scope("products:read")
@spec.validate(
    query=CategoryQuery,
    resp=Responses(HTTP_200=CategoryPage, **ERRORS),
    tags=[TAG],
    security=security("products:read"),
)
def list_categories_view() -> tuple:
    """List categories in id order

    `parent_id` lists one category's children, `top_level=true` the top of the tree. Each
    has its `full_name` ("Clothing / Tops") and `depth`. Keyset pages: follow `links.next`."""
    query: CategoryQuery = request.context.query  # type: ignore[attr-defined]
    stmt = db.select(Category)
    if query.parent_id is not None:
        stmt = stmt.where(Category.parent_id == query.parent_id)
    if query.top_level is True:
        stmt = stmt.where(Category.parent_id.is_(None))
    elif query.top_level is False:
        stmt = stmt.where(Category.parent_id.is_not(None))
    rows, cursor = ids_after(
        stmt, Category.id, after=query.cursor, limit=page_limit(query.limit), scalars=True
    )
    args = query.model_dump(exclude={"cursor"}, exclude_none=True)
    nxt = next_link("api.list_categories", cursor, **args)
    body = CategoryPage(data=[render_category(c) for c in rows], links=Links(next=nxt))
    return paged(body, nxt)


@bp.get("/categories/<int:category_id>", endpoint="get_category")
@scope("products:read")
@spec.validate(
    resp=Responses(HTTP_200=CategoryOut, **ONE_ERRORS),
    tags=[TAG],
    security=security("products:read"),
)
def get_category_view(category_id: int) -> tuple:
    """Read a category (its `ETag` is the version to send in `If-Match`)"""
    return _with_etag(render_category(get_category(category_id)))


@bp.post("/categories", endpoint="create_category")
@scope("products:write")
@spec.validate(
    json=CategoryCreate,
    resp=Responses(HTTP_201=CategoryOut, **CREATE_ERRORS),
    tags=[TAG],
    security=security("products:write"),
)
def create_category_view() -> tuple:
    """Create a category, at the top or under a parent (at most six deep)"""
    body: CategoryCreate = request.context.json  # type: ignore[attr-defined]
    category = create_category(by=actor(), **body.model_dump())
    location = url_for("api.get_category", category_id=category.id, _external=True)
    return _with_etag(render_category(category), 201, Location=location)


@bp.patch("/categories/<int:category_id>", endpoint="update_category")
@scope("products:write")
@spec.validate(
    json=CategoryUpdate,
    resp=Responses(HTTP_200=CategoryOut, **UPDATE_ERRORS),
    tags=[TAG],
    security=security("products:write"),
)
def update_category_view(category_id: int) -> tuple:
    """Rename, move or reorder a category

    Send `If-Match` with the ETag you read. Moving it moves its subtree; products keep
    their category."""
    body: CategoryUpdate = request.context.json  # type: ignore[attr-defined]
    category = get_category(category_id)
    require_match(etag_of(render_category(category)))
    fields: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "parent_id" not in fields:
        fields["parent_id"] = "keep"
    version = category.updated_at  # checked again inside the write
    changed = update_category(category, by=actor(), expected_version=version, **fields)
    return _with_etag(render_category(changed))


# -- collections --------------------------------------------------------------------------------


class CollectionRule(ApiModel):
    field: Literal["tag", "vendor", "product_type", "title", "price", "category"]
    op: Literal["equals", "not_equals", "contains", "starts_with", "greater_than", "less_than"]
    value: str | int = Field(description="Text; a price in minor units; a category id.")


class CollectionOut(BaseModel):
    id: int
    title: str
    handle: str
    description: str
    kind: str = Field(description="manual (hand-picked) or rule (products matching `rules`)")
    match: str = Field(description="all or any of the rules")
    rules: list[dict[str, Any]]
    sort: str
    pinned_product_ids: list[int]
    created_at: str | None
    updated_at: str | None


class CollectionPage(BaseModel):
    data: list[CollectionOut]
    links: Links


class CollectionQuery(PageQuery):
    kind: Literal["manual", "rule"] | None = None


class CollectionCreate(ApiModel):
    title: str = Field(min_length=1, max_length=255)
    handle: str | None = Field(None, max_length=255)
    description: str = ""
    kind: Literal["manual", "rule"] = "manual"
    match: Literal["all", "any"] = "all"
    rules: list[CollectionRule] = Field(default_factory=list, max_length=20)
    sort: CollectionSort | None = Field(
        None, description="Manual order for a manual one, newest for a rule-based one if absent."
    )


class CollectionUpdate(ApiModel):
    """Only the fields sent change."""

    title: str | None = Field(None, min_length=1, max_length=255)
    handle: str | None = Field(None, max_length=255)
    description: str | None = None
    kind: Literal["manual", "rule"] | None = None
    match: Literal["all", "any"] | None = None
    rules: list[CollectionRule] | None = Field(None, max_length=20)
    sort: CollectionSort | None = None


class ProductIds(ApiModel):
    product_ids: list[Id] = Field(min_length=1, max_length=500)


class MembersChanged(BaseModel):
    collection_id: int
    changed: int = Field(description="How many products were added or removed.")


def render_collection(collection: Collection) -> CollectionOut:
    return CollectionOut(
        id=collection.id,
        title=collection.title,
        handle=collection.handle,
        description=collection.description,
        kind=collection.kind,
        match=collection.match,
        rules=list(collection.rules or []),
        sort=collection.sort,
        pinned_product_ids=[int(i) for i in collection.pinned_ids or []],
        created_at=ts(collection.created_at),
        updated_at=ts(collection.updated_at),
    )


@bp.get("/collections", endpoint="list_collections")
@scope("products:read")
@spec.validate(
    query=CollectionQuery,
    resp=Responses(HTTP_200=CollectionPage, **ERRORS),
    tags=[TAG],
    security=security("products:read"),
)
def list_collections_view() -> tuple:
    """List collections in id order, optionally of one `kind`

    Keyset pages: follow `links.next`."""
    query: CollectionQuery = request.context.query  # type: ignore[attr-defined]
    stmt = db.select(Collection)
    if query.kind:
        stmt = stmt.where(Collection.kind == query.kind)
    rows, cursor = ids_after(
        stmt, Collection.id, after=query.cursor, limit=page_limit(query.limit), scalars=True
    )
    args = query.model_dump(exclude={"cursor"}, exclude_none=True)
    nxt = next_link("api.list_collections", cursor, **args)
    body = CollectionPage(data=[render_collection(c) for c in rows], links=Links(next=nxt))
    return paged(body, nxt)


@bp.get("/collections/<int:collection_id>", endpoint="get_collection")
@scope("products:read")
@spec.validate(
    resp=Responses(HTTP_200=CollectionOut, **ONE_ERRORS),
    tags=[TAG],
    security=security("products:read"),
)
def get_collection_view(collection_id: int) -> tuple:
    """Read a collection (its `ETag` is the version to send in `If-Match`)"""
    return _with_etag(render_collection(get_collection(collection_id)))


@bp.post("/collections", endpoint="create_collection")
@scope("products:write")
@spec.validate(
    json=CollectionCreate,
    resp=Responses(HTTP_201=CollectionOut, **CREATE_ERRORS),
    tags=[TAG],
    security=security("products:write"),
)
def create_collection_view() -> tuple:
    """Create a manual or rule-based collection

    A rule is `{field, op, value}`: text fields (`tag`, `vendor`, `product_type`,
    `title`) take equals, not_equals, contains, starts_with; `price` (minor units) and
    `category` (an id) compare as numbers."""
    body: CollectionCreate = request.context.json  # type: ignore[attr-defined]
    fields = body.model_dump()
    collection = create_collection(by=actor(), **fields)
    location = url_for("api.get_collection", collection_id=collection.id, _external=True)
    return _with_etag(render_collection(collection), 201, Location=location)


@bp.patch("/collections/<int:collection_id>", endpoint="update_collection")
@scope("products:write")
@spec.validate(
    json=CollectionUpdate,
    resp=Responses(HTTP_200=CollectionOut, **UPDATE_ERRORS),
    tags=[TAG],
    security=security("products:write"),
)
def update_collection_view(collection_id: int) -> tuple:
    """Change a collection's title, rules or sort (send `If-Match`)"""
    body: CollectionUpdate = request.context.json  # type: ignore[attr-defined]
    collection = get_collection(collection_id)
    require_match(etag_of(render_collection(collection)))
    fields = body.model_dump(exclude_unset=True)
    version = collection.updated_at  # checked again inside the write
    changed = update_collection(collection, by=actor(), expected_version=version, **fields)
    return _with_etag(render_collection(changed))


@bp.post("/collections/<int:collection_id>/products", endpoint="add_collection_products")
@scope("products:write")
@spec.validate(
    json=ProductIds,
    resp=Responses(HTTP_200=MembersChanged, **CREATE_ERRORS),
    tags=[TAG],
    security=security("products:write"),
)
def add_collection_products_view(collection_id: int) -> MembersChanged:
    """Add products to a manual collection (at its end; those already in it stay put)"""
    body: ProductIds = request.context.json  # type: ignore[attr-defined]
    collection = get_collection(collection_id)
    changed = add_to_collection(collection, body.product_ids, by=actor())
    return MembersChanged(collection_id=collection_id, changed=changed)


@bp.post("/collections/<int:collection_id>/products/remove", endpoint="remove_collection_products")
@scope("products:write")
@spec.validate(
    json=ProductIds,
    resp=Responses(HTTP_200=MembersChanged, **CREATE_ERRORS),
    tags=[TAG],
    security=security("products:write"),
)
def remove_collection_products_view(collection_id: int) -> MembersChanged:
    """Take products out of a manual collection"""
    body: ProductIds = request.context.json  # type: ignore[attr-defined]
    collection = get_collection(collection_id)
    changed = remove_from_collection(collection, body.product_ids, by=actor())
    return MembersChanged(collection_id=collection_id, changed=changed)


# -- media --------------------------------------------------------------------------------------


class MediaOut(BaseModel):
    id: int
    product_id: int
    kind: str = Field(description="file (stored here, with a thumbnail) or external (a link)")
    url: str
    thumbnail_url: str | None
    alt: str
    position: int
    content_type: str | None
    width: int | None
    height: int | None
    created_at: str | None


class MediaList(BaseModel):
    data: list[MediaOut]


class ExternalImage(ApiModel):
    url: str = Field(min_length=1, max_length=2000, description="An http(s) image address.")
    alt: str = Field("", max_length=512)


def _file_url(path: str | None) -> str | None:
    return url_for("storefront.media_file", path=path, _external=True) if path else None


def render_media(media: Media) -> MediaOut:
    if media.kind == "external":
        url, thumb = media.external_url or "", None
    else:
        url = _file_url(media.path or media.thumb_path) or ""
        thumb = _file_url(media.thumb_path)
    return MediaOut(
        id=media.id,
        product_id=media.product_id,
        kind=media.kind,
        url=url,
        thumbnail_url=thumb,
        alt=media.alt,
        position=media.position,
        content_type=media.content_type,
        width=media.width,
        height=media.height,
        created_at=ts(media.created_at),
    )


@bp.get("/products/<int:product_id>/media", endpoint="list_product_media")
@scope("products:read")
@spec.validate(
    resp=Responses(HTTP_200=MediaList, **ONE_ERRORS),
    tags=["products"],
    security=security("products:read"),
)
def list_product_media_view(product_id: int) -> MediaList:
    """List a product's images in their order (the first is the main image)"""
    product = get_product(product_id)
    return MediaList(data=[render_media(m) for m in sorted(product.media, key=_position)])


def _position(media: Media) -> tuple[int, int]:
    return media.position, media.id


@bp.post("/products/<int:product_id>/media", endpoint="add_product_media")
@scope("products:write")
@spec.validate(
    json=ExternalImage,
    resp=Responses(HTTP_201=MediaOut, **CREATE_ERRORS),
    tags=["products"],
    security=security("products:write"),
)
def add_product_media_view(product_id: int) -> tuple:
    """Add an image by its address (linked, not copied), last in the product's order"""
    body: ExternalImage = request.context.json  # type: ignore[attr-defined]
    media = add_external_image(get_product(product_id), url=body.url, alt=body.alt, by=actor())
    location = url_for("api.list_product_media", product_id=product_id, _external=True)
    return render_media(media), 201, {"Location": location}
