"""Backends of the search port, chosen by settings: `db` unless MEILISEARCH_URL is set."""

from __future__ import annotations

from typing import Any

from flask import current_app

from commerce.search.port import SearchBackend

EXTENSION = "commerce.search.backend"


def create_backend(config: dict[str, Any]) -> SearchBackend:
    name = config.get("SEARCH_BACKEND") or (
        "meilisearch" if config.get("MEILISEARCH_URL") else "db"
    )
    if name == "meilisearch":
        from commerce.search.backends.meili import MeilisearchBackend

        return MeilisearchBackend(config)
    if name == "db":
        from commerce.search.backends.db import DatabaseBackend

        return DatabaseBackend(config)
    raise ValueError(f"unknown SEARCH_BACKEND {name!r} (db or meilisearch)")


def get_backend() -> SearchBackend:
    """The app's backend, made on first use (no connection is opened until a call needs one)."""
    app = current_app._get_current_object()
    backend = app.extensions.get(EXTENSION)
    if backend is None:
        backend = create_backend(app.config)
        app.extensions[EXTENSION] = backend
    return backend
