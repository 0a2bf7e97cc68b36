"""Handles, SKUs and descriptions: the text rules every catalog write shares (tags:
commerce/tags.py)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import markdown
import nh3
from flask import current_app, has_app_context
from slugify import slugify

from commerce.catalog.models import HTML, MARKDOWN
from commerce.errors import ValidationError

HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_HANDLE = 255
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")

_ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "img",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "td": {"colspan"}}


def handle_from(text: str) -> str:
    return slugify(text or "", max_length=MAX_HANDLE, word_boundary=True) or "item"


def check_handle(handle: str, *, field: str = "handle") -> str:
    handle = (handle or "").strip()
    if not handle:
        raise ValidationError("Enter a handle.", field=field)
    if len(handle) > MAX_HANDLE or not HANDLE_RE.match(handle):
        raise ValidationError(
            "Use lowercase letters, digits and single hyphens (like “linen-shirt”).", field=field
        )
    return handle


def check_sku(sku: str | None, *, field: str = "sku") -> str | None:
    sku = (sku or "").strip()
    if not sku:
        return None
    if not SKU_RE.match(sku):
        raise ValidationError(
            "A SKU is up to 64 letters, digits, dots, dashes, underscores or slashes.", field=field
        )
    return sku


def check_barcode(barcode: str | None, *, field: str = "barcode") -> str | None:
    barcode = (barcode or "").strip()
    if not barcode:
        return None
    if len(barcode) > 64 or not re.fullmatch(r"[A-Za-z0-9-]+", barcode):
        raise ValidationError("A barcode is up to 64 letters, digits or dashes.", field=field)
    return barcode


def render_description(text: str, fmt: str) -> str:
    """Sanitized HTML for the storefront, from Markdown or from pasted HTML."""
    if fmt not in (MARKDOWN, HTML):
        raise ValidationError(
            "Description format must be markdown or html.", field="description_format"
        )
    html = (
        markdown.markdown(text or "", extensions=["extra", "sane_lists"])
        if fmt == MARKDOWN
        else text or ""
    )
    hosts = allowed_image_hosts()

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src" and not image_source_allowed(value, hosts):
            return None  # an image from elsewhere (a tracking pixel): dropped, its alt stays
        return value

    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener nofollow",
        attribute_filter=keep,
    )


def allowed_image_hosts() -> frozenset[str]:
    """Hosts a description's images may load from besides our own media: IMAGE_HOSTS and the
    shop's own address (SHOP_URL). The Content-Security-Policy's img-src says the same."""
    if not has_app_context():
        return frozenset()
    config = current_app.config
    hosts = {h.strip().lower() for h in config.get("IMAGE_HOSTS") or () if h.strip()}
    own = urlparse(config.get("SHOP_URL") or "").hostname
    return frozenset(hosts | ({own} if own else set()))


def image_source_allowed(src: str, hosts: frozenset[str]) -> bool:
    """Our media (a path on this site) or an http(s) image on an allowed host."""
    src = (src or "").strip()
    if src.startswith("/") and not src.startswith("//") and "\\" not in src:
        return True
    parsed = urlparse(src)
    return parsed.scheme in ("http", "https") and (parsed.hostname or "") in hosts
