"""Search background work: thin Celery tasks and the outbox consumers over indexing.py."""

from __future__ import annotations

from datetime import timedelta

from commerce import outbox
from commerce.extensions import celery
from commerce.jobs import copy_job, job_task
from commerce.search import analytics, indexing


def on_event(event: outbox.OutboxEvent) -> None:
    """Record the event for the index (once per event id) and ask for an index update."""
    if indexing.record_outbox_event(event):
        indexing.request_sync()


for _topic in indexing.TOPICS:
    outbox.handler(_topic)(on_event)


@celery.task(name="commerce.search.sync")
def sync_index() -> int:
    """Apply recorded catalog changes to the index, in batches (safe to run twice)."""
    return indexing.sync_pending()


# A job (commerce.jobs): claimed before it runs, failed by the sweep if its worker stops
# (its half-built generation is closed), and able to run again from the console.
reindex_job = job_task(
    indexing.REINDEX_JOB,
    name="commerce.search.reindex",
    again=copy_job,
    on_lost=indexing.abandon_rebuild,
)(indexing.run_reindex_job)


@celery.task(name="commerce.search.refresh_popularity")
def refresh_popularity() -> int:
    """The daily refresh of popularity for sales that left the 30-day window."""
    indexing.purge_applied()
    return indexing.refresh_lapsed_popularity()


@celery.task(name="commerce.search.prune_events")
def prune_events() -> int:
    """The daily removal of search analytics events past SEARCH_EVENTS_RETENTION_DAYS."""
    return analytics.prune_events()


BEAT_SCHEDULE = {
    "search-sync": {"task": "commerce.search.sync", "schedule": timedelta(seconds=10)},
    "search-popularity": {
        "task": "commerce.search.refresh_popularity",
        "schedule": timedelta(hours=24),
    },
    "search-events-prune": {
        "task": "commerce.search.prune_events",
        "schedule": timedelta(hours=24),
    },
}
