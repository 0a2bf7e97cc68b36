"""Product images: validated uploads with thumbnails under MEDIA_ROOT, or external references."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import current_app
from PIL import Image, UnidentifiedImageError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from commerce import audit
from commerce.catalog.models import Media, Product, Variant
from commerce.catalog.services import product_changed
from commerce.db import service, transaction, utcnow
from commerce.errors import NotFound, ValidationError
from commerce.extensions import db

ALLOWED_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
THUMB_SIZE = (320, 320)
MAX_PIXELS = 40_000_000


def media_root() -> Path:
    return Path(current_app.config["MEDIA_ROOT"])


def get_media(media_id: int) -> Media:
    media = db.session.get(Media, media_id)
    if media is None:
        raise NotFound("No such image.")
    return media


def inspect_image(data: bytes, *, filename: str = "", field: str = "image") -> tuple[str, int, int]:
    """The image's format and size, or a ValidationError naming what is wrong with the file."""
    max_bytes = current_app.config["MEDIA_MAX_BYTES"]
    if not data:
        raise ValidationError("Choose an image file.", field=field)
    if len(data) > max_bytes:
        raise ValidationError(
            f"“{filename or 'The file'}” is {len(data) / 1e6:.1f} MB; images are at most "
            f"{max_bytes / 1e6:.0f} MB.",
            field=field,
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ValidationError("That image has too many pixels.", field=field)
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValidationError(
            f"“{filename or 'The file'}” is not an image we can use (JPEG, PNG, GIF or WebP).",
            field=field,
        ) from exc
    if fmt not in ALLOWED_FORMATS:
        raise ValidationError("Images must be JPEG, PNG, GIF or WebP.", field=field)
    return fmt, width, height


def _write_files(product_id: int, data: bytes, fmt: str) -> tuple[str, str]:
    ext = ALLOWED_FORMATS[fmt][1]
    stem = uuid.uuid4().hex
    rel_dir = Path("products") / str(product_id)
    folder = media_root() / rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    original = rel_dir / f"{stem}.{ext}"
    (media_root() / original).write_bytes(data)
    thumb = rel_dir / f"{stem}_thumb.{'png' if fmt in ('PNG', 'GIF') else 'jpg'}"
    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail(THUMB_SIZE)
        if thumb.suffix == ".jpg":
            img = img.convert("RGB")
        img.save(media_root() / thumb)
    _remove_on_rollback([str(original), str(thumb)])
    return str(original), str(thumb)


def _remove_on_rollback(paths: list[str]) -> None:
    """Files written inside a transaction are deleted if it rolls back: no orphans on disk."""
    session = db.session()
    session.info.setdefault("media.written", []).extend(media_root() / p for p in paths)


def forget_media_files(paths: list[str]) -> None:
    """Delete files once the surrounding transaction commits, unless another image row still
    points at them (the demo shop shares placeholder files between products)."""
    session = db.session()
    session.flush()
    shared = set(session.scalars(select(Media.path).where(Media.path.in_(paths)))) | set(
        session.scalars(select(Media.thumb_path).where(Media.thumb_path.in_(paths)))
    )
    session.info.setdefault("media.forget", []).extend(
        media_root() / p for p in paths if p not in shared
    )


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop("media.written", None)
    for path in session.info.pop("media.forget", []):
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    if not session.in_transaction() or session.get_transaction() is None:
        session.info.pop("media.forget", None)
        for path in session.info.pop("media.written", []):
            path.unlink(missing_ok=True)


def _next_position(product: Product) -> int:
    return max([m.position for m in product.media] or [0]) + 1


def add_image(
    product: Product, *, data: bytes, filename: str, by: Any, alt: str = "", field: str = "image"
) -> Media:
    fmt, width, height = inspect_image(data, filename=filename, field=field)
    alt = (alt or "").strip()[:512]
    with transaction():
        path, thumb = _write_files(product.id, data, fmt)
        media = Media(
            product=product,
            kind="file",
            path=path,
            thumb_path=thumb,
            alt=alt,
            position=_next_position(product),
            content_type=ALLOWED_FORMATS[fmt][0],
            width=width,
            height=height,
            size_bytes=len(data),
            original_filename=Path(filename or "image").name[:255],
            created_at=utcnow(),
        )
        _added(media, product, by=by)
    return media


def _added(media: Media, product: Product, *, by: Any) -> None:
    """A new image of the product: stored, the product's pages told, the change audited."""
    db.session.add(media)
    db.session.flush()
    product_changed(product)
    audit.record(by, "media.add", media, after=media.snapshot())


def check_external_url(url: str, *, field: str = "url") -> str:
    url = (url or "").strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 2000:
        raise ValidationError("Enter an http(s) address of an image.", field=field)
    return url


@service
def add_external_image(product: Product, *, url: str, by: Any, alt: str = "") -> Media:
    """An image we only link to (e.g. a Shopify CDN URL that could not be fetched)."""
    url = check_external_url(url)
    media = Media(
        product=product,
        kind="external",
        external_url=url,
        alt=(alt or "").strip()[:512],
        position=_next_position(product),
        created_at=utcnow(),
    )
    _added(media, product, by=by)
    return media


@service
def set_variant_image(variant: Variant, media: Media | None, *, by: Any) -> Variant:
    """Show `media` (one of the variant's product's images) for this variant, or none."""
    if media is not None and media.product_id != variant.product_id:
        raise ValidationError("Choose one of this product's images.", field="image")
    wanted = media.id if media is not None else None
    if variant.image_id != wanted:
        current = db.session.get(Media, variant.image_id) if variant.image_id else None
        audit.record(
            by,
            "variant.set_image",
            variant,
            before={"image": current.audit_label if current is not None else None},
            after={"image": media.audit_label if media is not None else None},
        )
        variant.image_id = wanted
        product_changed(variant.product)
    return variant


@service
def update_image_alt(media: Media, *, alt: str, by: Any) -> Media:
    before = media.snapshot()
    media.alt = (alt or "").strip()[:512]
    if before != media.snapshot():
        product_changed(media.product)
        audit.record(by, "media.update", media, before=before, after=media.snapshot())
    return media


@service
def move_image(media: Media, *, to_position: int, by: Any) -> Media:
    """Put an image at a 1-based position; the others close up around it."""
    product = media.product
    ordered = [m for m in product.media if m.id != media.id]
    index = max(0, min(len(ordered), to_position - 1))
    ordered.insert(index, media)
    before = {"order": [m.id for m in sorted(product.media, key=lambda m: m.position)]}
    for position, item in enumerate(ordered, start=1):
        item.position = position
    after = {"order": [m.id for m in ordered]}
    if before != after:
        product_changed(product)
        audit.record(by, "media.reorder", product, before=before, after=after)
    return media


@service
def delete_image(media: Media, *, by: Any) -> None:
    product = media.product
    audit.record(by, "media.delete", media, before=media.snapshot())
    paths = [p for p in (media.path, media.thumb_path) if p]
    for variant in product.variants:
        if variant.image_id == media.id:  # the variant no longer shows an image of its own
            variant.image_id = None
    product.media.remove(media)
    db.session.delete(media)
    for position, item in enumerate(sorted(product.media, key=lambda m: m.position), start=1):
        item.position = position
    product_changed(product)
    forget_media_files(paths)
