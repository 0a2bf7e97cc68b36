"""Answering a search through the port: query rules first, then the backend.

Rules for the query hide products (a filter on ids), pin others to the top in the rule's
order, and boost or bury products by a condition (tag, vendor, collection, in stock). Pinned
products show whether or not they contain the words, but only when they pass the shopper's
filters; they count in the total and the facet counts.

Boosts and buries split the matches into disjoint groups, each answered by the backend with
the `any_of` / `none_of` conditions of the port: boosted (any boost condition), then the rest,
then buried (any bury condition and no boost condition: a boost wins over a bury). Within a
group the backend's relevance order stands. The page's window runs across the groups by their
totals, and the facet counts are the groups' sums (the groups are disjoint), so totals, facets
and paging stay exact. This happens here, above the backends, because Meilisearch cannot rank
by an arbitrary condition; the cost is one backend query per group, only for queries a
boosting rule matches.

Boosts and buries shape the relevance order only: a shopper who sorts by price, newest or
best selling gets that order. Pins stay first under every sort, hides always hide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from flask import current_app

from commerce import audit, outbox
from commerce.db import transaction
from commerce.extensions import celery, db
from commerce.search.backends import get_backend
from commerce.search.fallback import search_with_fallback
from commerce.search.port import (
    FACETS,
    RELEVANCE,
    Condition,
    Hit,
    IndexSettings,
    SearchBackend,
    SearchQuery,
    SearchResult,
    top_values,
)
from commerce.search.rules import (
    BOOST,
    BOOST_FIELDS,
    IN_STOCK_FIELD,
    SETTINGS_CHANGED,
    RuleMatch,
    current_revision,
    draft_rule,
    load_settings,
    product_labels,
    rules_for,
    settings_row,
)

log = logging.getLogger(__name__)


def search_products(
    query: SearchQuery,
    *,
    now: datetime | None = None,
    rules: Sequence[RuleMatch] | None = None,
) -> SearchResult:
    """The shopper's results with the live rules for the query applied (or with `rules`, the
    console's preview, in their place); from the database's standby index while Meilisearch
    is down (fallback.py)."""
    started = time.perf_counter()
    if celery.conf.task_always_eager and current_app.config.get("SEARCH_EMBEDDED_CATCH_UP", True):
        _catch_up()
    settings = load_settings()
    matches = rules_for(query.text, now=now) if rules is None else list(rules)
    hidden: list[int] = []
    pinned: list[int] = []
    boosts: list[Condition] = []
    buries: list[Condition] = []
    for rule in matches:
        hidden += [i for i in rule.hidden if i not in hidden]
        pinned += [i for i in rule.pinned if i not in pinned]
        for effect, field_name, value in rule.boosts:
            if field_name not in BOOST_FIELDS or (
                field_name == "collection" and not str(value).isdigit()
            ):
                continue  # only a hand-edited row could hold this: never fail a search for it
            condition = (field_name, "true" if field_name == IN_STOCK_FIELD else str(value))
            group = boosts if effect == BOOST else buries
            if condition not in group:
                group.append(condition)
    pinned = [i for i in pinned if i not in hidden]
    buries = [c for c in buries if c not in boosts]
    exclude = tuple(dict.fromkeys([*query.exclude_ids, *hidden]))
    shaped = (
        bool(boosts or buries)
        and query.sort == RELEVANCE
        and not query.any_of  # a caller's own conditions: groups cannot nest in one query
        and not query.none_of
    )
    return search_with_fallback(
        lambda backend: _answer(
            backend, query, settings, started, exclude, pinned, boosts, buries, shaped
        )
    )


def _answer(
    backend: SearchBackend,
    query: SearchQuery,
    settings: IndexSettings,
    started: float,
    exclude: tuple[int, ...],
    pinned: list[int],
    boosts: list[Condition],
    buries: list[Condition],
    shaped: bool,
) -> SearchResult:
    """The query answered by one backend, the rules' pins, boosts and buries applied."""
    if not pinned and not shaped:
        result = backend.search(replace(query, exclude_ids=exclude), settings)
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    offset, limit = query.window
    answered: list[SearchResult] = []
    pinned_hits: list[Hit] = []
    if pinned:
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
        answered.append(pins)
    rest = replace(query, exclude_ids=(*exclude, *(h.id for h in pinned_hits)))
    groups: list[tuple[str, SearchQuery]] = []
    if shaped:
        if boosts:
            groups.append((BOOST, replace(rest, any_of=tuple(boosts))))
        groups.append(("", replace(rest, none_of=tuple(boosts + buries))))
        if buries:
            groups.append(("bury", replace(rest, any_of=tuple(buries), none_of=tuple(boosts))))
    else:
        groups.append(("", rest))

    hits: list[Hit] = pinned_hits[offset : offset + limit]
    before = len(pinned_hits)  # results ranked above the next group
    backend_name = backend.name
    for label, group_query in groups:
        found = backend.search(
            group_query.with_window(max(offset - before, 0), max(limit - len(hits), 0)),
            settings,
        )
        for hit in found.hits:
            hit.boost = label
        hits += found.hits
        before += found.total
        answered.append(found)
        backend_name = found.backend
    facets: dict[str, dict[str, int]] = {}
    for found in answered:
        for name, values in found.facets.items():
            counts = facets.setdefault(name, {})
            for value, count in values.items():
                counts[value] = counts.get(value, 0) + count
    ranges = [r.price_range for r in answered if r.price_range]
    return SearchResult(
        hits=hits,
        total=before,
        facets={name: top_values(facets[name]) for name in FACETS if name in facets},
        took_ms=(time.perf_counter() - started) * 1000,
        query=query,
        price_range=(min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None,
        backend=backend_name,
        total_exact=all(found.total_exact for found in answered),
        facets_exact=all(found.facets_exact for found in answered),
    )


# -- the console's preview ----------------------------------------------------------------------


@dataclass
class RulePreview:
    """A rule's query answered without the rule and with it (top results), and the products
    the rule hides."""

    query: str
    before: SearchResult
    after: SearchResult
    hidden: list[dict[str, Any]] = field(default_factory=list)  # id, title, was (1-based|None)


def preview_rule(
    draft: Mapping[str, Any],
    *,
    rule_id: int | None = None,
    now: datetime | None = None,
    limit: int = 20,
) -> RulePreview:
    """What shoppers would see for the rule's query with the draft rule in place of the saved
    one (`rule_id`), and without it, other live rules applied to both. The draft applies as if
    it were live whatever its dates or switch say. Writes nothing; invalid values raise the
    same ValidationError a save would."""
    from commerce.search.rules import get_rule

    rule = get_rule(rule_id) if rule_id else None
    fields = dict(draft)
    fields.setdefault("query", rule.query if rule else "")
    candidate = draft_rule(fields, rule=rule)
    phrase = fields["query"]
    others = [m for m in rules_for(phrase, now=now) if m.id != (rule_id or 0)]
    window = SearchQuery(text=phrase, per_page=limit, facets=())
    before = search_products(window, now=now, rules=others)
    after = search_products(window, now=now, rules=[*others, candidate])
    labels = product_labels(candidate.hidden)
    hidden = [
        {
            "id": product_id,
            "title": labels.get(product_id, {}).get("title", f"Product #{product_id}"),
            "was": before.ids.index(product_id) + 1 if product_id in before.ids else None,
        }
        for product_id in candidate.hidden
    ]
    return RulePreview(query=phrase, before=before, after=after, hidden=hidden)


# -- pushing the merchandising settings to the backend ------------------------------------------


@dataclass(frozen=True)
class PushStatus:
    """Whether the latest merchandising settings have reached the backend."""

    backend: str
    revision: int
    waiting: int  # settings changes not applied yet (recorded, or still in the outbox)
    failing: int  # of those, how many the backend refused so far
    last_error: str
    pushed_at: datetime | None  # when a settings change was last applied

    @property
    def reads_live(self) -> bool:
        """The built-in backend reads the settings at every search: nothing to wait for."""
        return self.backend == "db"

    @property
    def current(self) -> bool:
        return self.waiting == 0


def push_status() -> PushStatus:
    from sqlalchemy import func, select

    from commerce.outbox import OutboxEvent
    from commerce.search.models import SearchPending

    open_rows = db.session.execute(
        select(SearchPending.attempts, SearchPending.last_error)
        .where(SearchPending.settings.is_(True), SearchPending.applied_at.is_(None))
        .order_by(SearchPending.event_id.desc())
    ).all()
    in_outbox = db.session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(
            OutboxEvent.topic == SETTINGS_CHANGED,
            OutboxEvent.dispatched_at.is_(None),
            OutboxEvent.id.not_in(select(SearchPending.event_id)),
        )
    )
    pushed_at = db.session.scalar(
        select(func.max(SearchPending.applied_at)).where(SearchPending.settings.is_(True))
    )
    failing = [row for row in open_rows if row.attempts]
    return PushStatus(
        backend=get_backend().name,
        revision=current_revision(),
        waiting=len(open_rows) + int(in_outbox or 0),
        failing=len(failing),
        last_error=next((row.last_error for row in failing if row.last_error), "") or "",
        pushed_at=pushed_at,
    )


def push_settings(*, by: Any) -> PushStatus:
    """Push the settings to the backend now (after a backend outage, or to be sure), with any
    other index changes waiting. Embedded (eager) mode pushes inline and the answer says how it
    went; otherwise the sync task is queued and the answer shows the push as waiting."""
    from commerce.search.indexing import (
        catch_up_outbox,
        claim_writer,
        record,
        request_sync,
        sync_pending,
    )

    eager = bool(celery.conf.task_always_eager)
    with transaction():
        claim_writer()
        catch_up_outbox()  # changes still waiting in the outbox go with this push
        row = settings_row(create=True)
        event = outbox.enqueue(SETTINGS_CHANGED, {"revision": row.revision, "push": True})
        db.session.flush()
        record(event.id, event.topic, event.payload)  # so the sync below takes it in at once
        audit.record(by, "search.push_settings", row, after={"revision": row.revision})
        if not eager:
            request_sync()  # queued when this transaction commits
    if eager:
        sync_pending(everything=True)  # a refusal stays pending with its error (push_status)
    return push_status()


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
        # A read on its own (most searches find nothing to take in): it never waits for a
        # writer of the embedded database.
        with transaction(read_only=True):
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
