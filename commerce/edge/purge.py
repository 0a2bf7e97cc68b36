"""Purge adapters: how a list of surrogate keys leaves the shop, chosen by EDGE_CACHE.

- "none" (the embedded default): there is no edge cache, nothing to purge.
- "varnish": `PURGE /` with an `xkey-purge: key key ...` header to each host in
  EDGE_PURGE_URLS (the VCL in deploy/varnish answers 200 and how many objects it dropped,
  and only to addresses in its `purgers` ACL). Every host must take every key: a host that
  fails fails the purge, and the outbox tries it again later (purging twice is harmless).

Other engines (Fastly, Cloudflare) read the same keys from the pages' headers; an adapter
for their purge APIs belongs here once it is tested against their documented contract.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import requests
from flask import current_app

NONE, VARNISH = "none", "varnish"
PURGE_HEADER = "xkey-purge"
PURGED_HEADER = "xkey-purged"  # set by our VCL: how many objects the purge dropped
MAX_HEADER_CHARS = 4000  # well under Varnish's http_req_hdr_len (8 KB)


class PurgeFailed(Exception):
    """An edge host did not confirm a purge (down, refused, or not our VCL)."""


class EdgePurger(Protocol):
    def purge(self, keys: Sequence[str]) -> int:
        """Drop every stored page carrying one of `keys`; returns how many were dropped (as
        far as the engine says)."""
        ...


class NoEdge:
    """The embedded mode: browsers keep shop pages a minute, nobody else stores them."""

    def purge(self, keys: Sequence[str]) -> int:
        return 0


def batches(keys: Sequence[str], limit: int = MAX_HEADER_CHARS) -> Iterator[str]:
    """Space-separated keys in header values of at most `limit` characters."""
    batch: list[str] = []
    size = 0
    for key in keys:
        if batch and size + len(key) + 1 > limit:
            yield " ".join(batch)
            batch, size = [], 0
        batch.append(key)
        size += len(key) + 1
    if batch:
        yield " ".join(batch)


@dataclass(frozen=True)
class VarnishPurger:
    """xkey purges sent to every Varnish host (each one stores its own copy of a page)."""

    urls: tuple[str, ...]
    timeout: float = 5.0

    def purge(self, keys: Sequence[str]) -> int:
        dropped = 0
        for url in self.urls:
            for value in batches(list(keys)):
                try:
                    answer = requests.request(
                        "PURGE", url, headers={PURGE_HEADER: value}, timeout=self.timeout
                    )
                except requests.RequestException as exc:
                    raise PurgeFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
                if answer.status_code != 200:
                    raise PurgeFailed(f"{url}: {answer.status_code} {answer.reason}")
                with contextlib.suppress(ValueError):
                    dropped += int(answer.headers.get(PURGED_HEADER, "0"))
        return dropped


def edge_purger() -> EdgePurger:
    """The adapter the settings choose (checked when the configuration is loaded)."""
    config = current_app.config
    if config.get("EDGE_CACHE", NONE) == VARNISH:
        return VarnishPurger(
            urls=tuple(config["EDGE_PURGE_URLS"]),
            timeout=float(config.get("EDGE_PURGE_TIMEOUT", 5)),
        )
    return NoEdge()


def edge_enabled() -> bool:
    """Whether pages are stored at an edge we purge (then they carry long edge lifetimes)."""
    return current_app.config.get("EDGE_CACHE", NONE) != NONE
