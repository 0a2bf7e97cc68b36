"""Answering a search through the port: query rules first, then the backend.

Rules for the query hide products (a filter on ids) and pin others to the top in the rule's
order. Pinned products show whether or not they contain the words, but only when they pass
the shopper's filters; they count in the total and the facet counts. Both happen here, over
the id filters every backend supports, so pins and hides behave the same on every backend.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime

from flask import current_app

from commerce.db import transaction
from commerce.extensions import celery, db
from commerce.search.backends import get_backend
from commerce.search.merchandising import load_settings, rules_for
from commerce.search.port import FACETS, Hit, SearchQuery, SearchResult, top_values

log = logging.getLogger(__name__)


def search_products(query: SearchQuery, *, now: datetime | None = None) -> SearchResult:
    started = time.perf_counter()
    if celery.conf.task_always_eager and current_app.config.get("SEARCH_EMBEDDED_CATCH_UP", True):
        _catch_up()
    backend = get_backend()
    settings = load_settings()
    hidden: list[int] = []
    pinned: list[int] = []
    for rule in rules_for(query.text, now=now):
        hidden += [i for i in rule.hidden if i not in hidden]
        pinned += [i for i in rule.pinned if i not in pinned]
    pinned = [i for i in pinned if i not in hidden]
    exclude = tuple(dict.fromkeys([*query.exclude_ids, *hidden]))
    if not pinned:
        result = backend.search(replace(query, exclude_ids=exclude), settings)
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    offset, limit = query.window
    pins = backend.search(
        replace(
            query,
            text="",
            sort="relevance",
            include_ids=tuple(pinned),
            exclude_ids=exclude,
            offset=0,
            limit=len(pinned),
            highlight=False,
        ),
        settings,
    )
    by_id = {hit.id: hit for hit in pins.hits}
    pinned_hits = [by_id[i] for i in pinned if i in by_id]
    for hit in pinned_hits:
        hit.pinned = True
    shown = [h.id for h in pinned_hits]
    page_pins = pinned_hits[offset : offset + limit]
    rest_offset = max(offset - len(pinned_hits), 0)
    rest_limit = limit - len(page_pins)
    rest = backend.search(
        query.with_window(rest_offset, rest_limit, exclude_ids=(*exclude, *shown)), settings
    )
    facets: dict[str, dict[str, int]] = {}
    for name in set(rest.facets) | set(pins.facets):
        counts = dict(rest.facets.get(name, {}))
        for value, count in pins.facets.get(name, {}).items():
            counts[value] = counts.get(value, 0) + count
        facets[name] = top_values(counts)
    ranges = [r for r in (rest.price_range, pins.price_range) if r]
    hits: list[Hit] = [*page_pins, *rest.hits]
    return SearchResult(
        hits=hits,
        total=rest.total + len(pinned_hits),
        facets={name: facets[name] for name in FACETS if name in facets},
        took_ms=(time.perf_counter() - started) * 1000,
        query=query,
        price_range=(min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None,
        backend=rest.backend,
    )


def _catch_up() -> None:
    """Embedded mode: no worker or beat runs, so take in search events still in the outbox
    (a change made outside a request, a demo load) before answering."""
    from commerce.search.indexing import (
        catch_up_outbox,
        claim_writer,
        has_open_pending,
        outbox_has_unrecorded,
        request_sync,
    )

    try:
        with transaction():  # a read on its own: most searches find nothing to take in
            unrecorded = outbox_has_unrecorded()
            unapplied = has_open_pending()
        if unrecorded:
            with transaction():
                claim_writer()
                catch_up_outbox()
        if unrecorded or unapplied:
            request_sync()
    except Exception:  # never fail a search for its bookkeeping: the next one tries again
        log.warning("search could not take in waiting catalog changes", exc_info=True)
        db.session.rollback()
