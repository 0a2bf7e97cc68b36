"""Backends of the search port, chosen by settings: `db` unless MEILISEARCH_URL is set.

With Meilisearch, the database also keeps a standby copy of the index (SEARCH_DB_STANDBY, on
by default): the index sync writes every change to both, and searches fall back to it while
Meilisearch is down (commerce/search/fallback.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from commerce.search.port import SearchBackend

EXTENSION = "commerce.search.backend"
STANDBY_EXTENSION = "commerce.search.standby"


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


def get_standby() -> SearchBackend | None:
    """The database's standby index beside Meilisearch; None when the database is the backend
    itself or the standby is switched off."""
    app = current_app._get_current_object()
    if get_backend().name == "db" or not app.config.get("SEARCH_DB_STANDBY", True):
        return None
    standby = app.extensions.get(STANDBY_EXTENSION)
    if standby is None:
        from commerce.search.backends.db import STANDBY, DatabaseBackend

        standby = DatabaseBackend(app.config, name=STANDBY)
        app.extensions[STANDBY_EXTENSION] = standby
    return standby
