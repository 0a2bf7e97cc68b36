"""Catalog search behind one port (port.py), with two backends: `db` (SQLite FTS5 or
PostgreSQL full text, no extra service) and `meilisearch` (MEILISEARCH_URL switches it on).

    from commerce.search import SearchQuery, search
    result = search(SearchQuery(text="blu tshrt", tags=("summer",), sort="price-asc"))

The web faces use only this module's names; they never know which backend answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from commerce.search.port import (
    FACETS,
    SORTS,
    Hit,
    IndexSettings,
    SearchBackend,
    SearchBackendError,
    SearchQuery,
    SearchResult,
)

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "FACETS",
    "SORTS",
    "Hit",
    "IndexSettings",
    "SearchBackend",
    "SearchBackendError",
    "SearchQuery",
    "SearchResult",
    "init_app",
    "search",
]


def search(query: SearchQuery, **options: Any) -> SearchResult:
    from commerce.search.services import search_products

    return search_products(query, **options)


def init_app(app: Flask) -> None:
    """Register the search models, outbox consumers and periodic tasks with the app."""
    from commerce.extensions import PERIODIC, celery
    from commerce.search import models as _models  # noqa: F401
    from commerce.search.tasks import BEAT_SCHEDULE

    PERIODIC.update(BEAT_SCHEDULE)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
