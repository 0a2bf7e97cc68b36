"""Outbox consumers that purge the edge cache by key after a change to what pages show.

Each is an outside effect (`atomic=False`: it runs with no transaction open, and a purge that
fails is tried again by the outbox), and only while an edge cache is configured: in the
embedded mode (EDGE_CACHE=none) they are not consumers at all, so events finish as before.

The topics and what they purge (commerce.edge.places):

| topic                     | emitted by                                   | purges               |
| product.changed           | any product, variant, media or option change | the product's places |
| product.deleted           | delete_product                               | its page, category   |
| stock.crossed             | a variant selling out or coming back (only   | the products' places |
|                           | then: holds and sales in between purge none) |                      |
| category.updated          | a category created, edited, moved, deleted   | see category_places  |
| collection.updated        | a collection's record, members, order, pins  | see collection_places|
| search.settings_changed   | synonyms, rules, ranking                     | search pages         |
| catalog.bulk_loaded       | the demo loader                              | everything           |

Promotions are not shown on shared pages (prices there are the variants' own and their
compare-at prices), so promotion.changed purges nothing; orders placed change best-selling
sorts, which catch up within EDGE_MAX_AGE rather than purge on every sale.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from commerce import outbox
from commerce.catalog.taxonomy import CATEGORY_UPDATED, COLLECTION_UPDATED
from commerce.edge import places
from commerce.edge.keys import CATALOG, SEARCH
from commerce.edge.purge import edge_enabled, edge_purger
from commerce.inventory.services import STOCK_CROSSED
from commerce.search.rules import SETTINGS_CHANGED

log = logging.getLogger(__name__)

PRODUCT_CHANGED, PRODUCT_DELETED = "product.changed", "product.deleted"
BULK_LOADED = "catalog.bulk_loaded"

Resolver = Callable[[outbox.OutboxEvent], set[str]]


def purge(keys: set[str]) -> int:
    """Purge these keys at every edge host (raises PurgeFailed for the outbox to retry)."""
    if not keys:
        return 0
    # Purging CATALOG drops every shared page: the other keys would find nothing left.
    dropped = edge_purger().purge([CATALOG] if CATALOG in keys else sorted(keys))
    log.info("edge purge %s: %s objects", " ".join(sorted(keys)), dropped)
    return dropped


def _consumer(topic: str, resolve: Resolver) -> None:
    def purge_for(event: outbox.OutboxEvent) -> None:
        purge(resolve(event))

    purge_for.__name__ = purge_for.__qualname__ = "purge_" + topic.replace(".", "_")
    outbox.handler(topic, atomic=False, enabled=edge_enabled)(purge_for)


RESOLVERS: dict[str, Resolver] = {
    PRODUCT_CHANGED: lambda e: places.product_places([e.payload["product_id"]]),
    PRODUCT_DELETED: lambda e: places.deleted_product_places(e.payload),
    STOCK_CROSSED: lambda e: places.variant_places(e.payload.get("variant_ids", [])),
    CATEGORY_UPDATED: lambda e: places.category_places(e.payload),
    COLLECTION_UPDATED: lambda e: places.collection_places(e.payload),
    SETTINGS_CHANGED: lambda e: {SEARCH},
    BULK_LOADED: lambda e: {CATALOG},
}

for _topic, _resolve in RESOLVERS.items():
    _consumer(_topic, _resolve)
