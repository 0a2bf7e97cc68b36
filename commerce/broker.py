"""Queueing a Celery task from a request without letting a broker outage fail or stall it.

Work a request queues after its commit is already safe in the database (outbox events,
search_pending rows, job rows in "queued"), and periodic tasks deliver it later (the outbox
and search sync every few seconds, the job sweeper). So publishing from a request is best
effort: one quick retry with short connection timeouts (config: BROKER_TIMEOUT), and after a
failure the process does not try again for BROKER_RETRY_AFTER seconds, so an outage costs
one slow request per process now and then, not every request. In the eager embedded mode the
task runs inline and its errors propagate as before.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Task
from flask import current_app, has_app_context

from commerce.extensions import celery

log = logging.getLogger(__name__)

# One quick retry (a connection dropped by a Redis restart is re-made at once), no more.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
DEFAULT_RETRY_AFTER = 15.0

_lock = threading.Lock()
_down_until = 0.0


def broker_resting() -> bool:
    """Whether this process stopped publishing after a recent broker failure."""
    return time.monotonic() < _down_until


def queue_task(task: Task, *args: Any, **kwargs: Any) -> bool:
    """Publish `task(*args, **kwargs)`; False (and a log line) when the broker cannot take it,
    in which case the caller's work waits in the database for the periodic tasks."""
    global _down_until
    if celery.conf.task_always_eager:
        task.apply_async(args, kwargs)
        return True
    name = task.name
    if broker_resting():
        log.info("broker down: %s left for the periodic tasks", name)
        return False
    try:
        task.apply_async(args, kwargs, retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as exc:  # kombu's OperationalError, a socket timeout, a refused connection
        pause = _retry_after()
        with _lock:
            _down_until = time.monotonic() + pause
        log.warning(
            "broker unreachable (%s: %s): %s left for the periodic tasks; not publishing "
            "from this process for %.0fs",
            type(exc).__name__,
            exc,
            name,
            pause,
        )
        return False
    if _down_until:
        with _lock:
            _down_until = 0.0
    return True


def _retry_after() -> float:
    if has_app_context():
        return float(current_app.config.get("BROKER_RETRY_AFTER", DEFAULT_RETRY_AFTER))
    return DEFAULT_RETRY_AFTER
