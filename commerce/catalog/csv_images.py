"""Image URLs named by an import: which are new, and downloading them before the transaction.

Downloads happen before the import's transaction opens, so no database lock is held while a
slow server answers. A URL that cannot be fetched, or is not an image we accept, is simply
not downloaded: the import then keeps it as an external image reference.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlparse

import requests
from flask import current_app
from sqlalchemy import select

from commerce.catalog.media import check_external_url, inspect_image
from commerce.catalog.models import Media, Product
from commerce.errors import ValidationError
from commerce.extensions import db

if TYPE_CHECKING:
    from commerce.catalog.csv_format import ParsedFile

_WORKERS = 8


def source_name(src: str) -> str:
    """The file name at the end of an image URL ("shirt.jpg" for ".../shirt.jpg?v=2")."""
    return unquote(urlparse(src).path.rsplit("/", 1)[-1])[:255] or "image"


def find_media(media: Iterable[Media], src: str) -> Media | None:
    """The image a source names: the same link, our own stored file's public URL, or a file
    downloaded from a URL of the same file name (Media keeps no source URL, so a re-import
    recognises a downloaded image by the name it was stored under)."""
    path = urlparse(src).path
    name = source_name(src)
    for item in media:
        if item.kind == "external" and item.external_url == src:
            return item
        if item.kind == "file" and item.path and path.endswith("/" + item.path):
            return item
    for item in media:
        if item.kind == "file" and item.original_filename == name and "." in name:
            return item
    return None


def _new_sources(parsed: ParsedFile) -> list[str]:
    handles = [p.handle for p in parsed.products if p.images]
    known: dict[str, list[Media]] = {}
    for start in range(0, len(handles), 500):
        rows = db.session.execute(
            select(Product.handle, Media)
            .join(Media, Media.product_id == Product.id)
            .where(Product.handle.in_(handles[start : start + 500]))
        )
        for handle, media in rows:
            known.setdefault(handle, []).append(media)
    sources: dict[str, None] = {}
    for plan in parsed.products:
        for image in plan.images:
            if find_media(known.get(plan.handle, []), image.src) is None:
                try:
                    sources[check_external_url(image.src)] = None
                except ValidationError:
                    continue  # the import reports it at its row
    db.session.rollback()  # end the read before the downloads: hold nothing open meanwhile
    return list(sources)


def _is_public(url: str) -> bool:
    """Whether every address the URL's host resolves to is a public one.

    The server fetches URLs a merchant's file names; without this check a file could make it
    read internal services (cloud metadata, the database's admin port...).
    """
    host = urlparse(url).hostname
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_global for info in infos)


def _download(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> bytes | None:
    """The image bytes, or None for anything we would rather keep as an external reference."""
    try:
        for _hop in range(4):  # follow redirects by hand, checking every address
            if not allow_private and not _is_public(url):
                return None
            with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
                if response.is_redirect and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status_code != 200:
                    return None
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        return None
                    chunks.append(chunk)
                return b"".join(chunks)
    except requests.RequestException:
        return None
    return None


@contextmanager
def downloaded_images(
    parsed: ParsedFile | None, *, progress: Any = None
) -> Iterator[dict[str, Path]]:
    """URL -> a temporary file holding a valid image, for the images the import will add.

    `parsed=None` (a dry run, or downloads switched off) downloads nothing.
    """
    if parsed is None:
        yield {}
        return
    sources = _new_sources(parsed)
    root = Path(current_app.config["IMPORT_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="images-", dir=root))
    timeout = current_app.config["IMPORT_FETCH_TIMEOUT"]
    max_bytes = current_app.config["MEDIA_MAX_BYTES"]
    allow_private = current_app.config["IMPORT_FETCH_PRIVATE"]
    stored: dict[str, Path] = {}
    try:
        with ThreadPoolExecutor(_WORKERS) as pool:
            results = pool.map(
                lambda url: _download(
                    url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private
                ),
                sources,
            )
            for done, (url, data) in enumerate(zip(sources, results, strict=True), start=1):
                if data is not None:
                    try:
                        inspect_image(data, field="image_src")
                    except ValidationError:
                        data = None
                if data is not None:
                    path = folder / hashlib.sha256(url.encode()).hexdigest()
                    path.write_bytes(data)
                    stored[url] = path
                if progress and (done % 20 == 0 or done == len(sources)):
                    progress(done, len(sources), "Downloading images")
        yield stored
    finally:
        shutil.rmtree(folder, ignore_errors=True)
