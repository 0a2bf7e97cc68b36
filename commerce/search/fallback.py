"""Searching while Meilisearch is down: the database's standby index answers instead.

`search_with_fallback(answer)` runs `answer(backend)` on the configured backend. When that
raises SearchBackendError and the standby (backends.get_standby()) has a live index, it runs
again on the standby, and this process keeps answering from the standby for
SEARCH_FALLBACK_SECONDS before it asks Meilisearch again: an engine that times out would
otherwise cost every search its timeout. One warning when a process switches over, one when
Meilisearch answers again; shoppers see results, never the engine's error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import current_app

from commerce.search.backends import get_backend, get_standby
from commerce.search.port import SearchBackend, SearchBackendError

log = logging.getLogger(__name__)

T = TypeVar("T")
EXTENSION = "commerce.search.fallback"


@dataclass
class Breaker:
    """This process's view of the engine: answering from the standby until `resting_until`."""

    resting_until: float = 0.0
    switched: bool = False  # answering from the standby since the last failure

    def resting(self) -> bool:
        return time.monotonic() < self.resting_until


def breaker() -> Breaker:
    app = current_app._get_current_object()
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions[EXTENSION] = Breaker()
    return found


def search_with_fallback(answer: Callable[[SearchBackend], T]) -> T:
    primary = get_backend()
    standby = get_standby()
    if standby is None:
        return answer(primary)
    state = breaker()
    if state.resting() and standby.has_index():
        return answer(standby)
    try:
        result = answer(primary)
    except SearchBackendError as exc:
        if not standby.has_index():
            log.warning("search failed and the standby index is not built yet: %s", exc.detail)
            raise
        pause = float(current_app.config.get("SEARCH_FALLBACK_SECONDS", 30))
        if not state.switched:
            log.warning(
                "%s unavailable (%s); answering searches from the database's standby index, "
                "asking it again every %.0fs",
                primary.name,
                exc.detail,
                pause,
            )
        state.switched = True
        state.resting_until = time.monotonic() + pause
        return answer(standby)
    if state.switched:
        state.switched = False
        log.warning("%s answers again; searches go back to it", primary.name)
    return result
