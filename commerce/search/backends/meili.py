"""The Meilisearch backend, through the official client.

The live index is MEILISEARCH_INDEX ("products"). Settings (searchable, filterable, sortable
and displayed attributes, ranking rules, synonyms, stop words, typo tolerance) are pushed with
one PATCH of /indexes/{uid}/settings. Documents go in batches; every write waits for its task
and a failed task raises SearchBackendError with Meilisearch's code and message, so the caller
(the outbox consumer, a rebuild) keeps its work pending and tries again. A rebuild fills
`<index>_build_<generation>`, then POST /swap-indexes exchanges it with the live index in one
step and the old documents (now under the build name) are deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import meilisearch
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchTimeoutError,
)
from sqlalchemy import select

from commerce.extensions import db
from commerce.search.highlight import POST, PRE, from_tagged
from commerce.search.models import BUILDING, SearchGeneration
from commerce.search.port import (
    BEST_SELLING,
    CATEGORY,
    COLLECTION,
    IN_STOCK,
    NEWEST,
    OPTION,
    PRICE_ASC,
    PRICE_DESC,
    PRODUCT_TYPE,
    TAG,
    VENDOR,
    Condition,
    Hit,
    IndexSettings,
    Rebuild,
    SearchBackend,
    SearchBackendError,
    SearchQuery,
    SearchResult,
    top_values,
)

NAME = "meilisearch"
SEARCHABLE = [
    "title",
    "keywords",
    "vendor",
    "product_type",
    "category_names",
    "collection_titles",
    "tags",
    "option_values",
    "skus",
    "barcodes",
    "description",
]
# Facet names of the port -> document attributes.
FACET_ATTRIBUTES = {
    CATEGORY: "category_ids",
    COLLECTION: "collection_ids",
    VENDOR: "vendor",
    PRODUCT_TYPE: "product_type",
    TAG: "tags",
    OPTION: "options",
    IN_STOCK: "in_stock",
}
FILTERABLE = ["id", *FACET_ATTRIBUTES.values(), "price_min", "price_max"]
SORTABLE = ["price_min", "price_max", "created_at", "popularity"]
DISPLAYED = [
    "id",
    "handle",
    "title",
    "vendor",
    "product_type",
    "tags",
    "category_id",
    "category_ids",
    "collection_ids",
    "options",
    "price_min",
    "price_max",
    "compare_at_max",
    "currency",
    "in_stock",
    "popularity",
    "created_at",
    "image",
]
# Sort first: a shopper's "price, low to high" is a strict order, relevance breaks its ties.
RANKING_RULES = ["sort", "words", "typo", "proximity", "attribute", "exactness", "popularity:desc"]
SORT_EXPRESSIONS = {
    PRICE_ASC: ["price_min:asc"],
    PRICE_DESC: ["price_max:desc"],
    NEWEST: ["created_at:desc"],
    BEST_SELLING: ["popularity:desc"],
}
MAX_TOTAL_HITS = 5000
# Meilisearch's error type for a request it refuses as such (a bad document, a bad filter),
# unlike "internal", "system" or "auth" errors, which every other request would meet too.
INVALID_REQUEST = "invalid_request"


def index_settings(settings: IndexSettings) -> dict[str, Any]:
    """The body of PATCH /indexes/{uid}/settings for our product documents."""
    return {
        "searchableAttributes": SEARCHABLE,
        "filterableAttributes": FILTERABLE,
        "sortableAttributes": SORTABLE,
        "displayedAttributes": DISPLAYED,
        "rankingRules": RANKING_RULES,
        "synonyms": {word: list(others) for word, others in sorted(settings.synonyms.items())},
        "stopWords": list(settings.stop_words),
        "typoTolerance": {
            "enabled": settings.typo.enabled,
            "minWordSizeForTypos": {
                "oneTypo": settings.typo.one_typo,
                "twoTypos": settings.typo.two_typos,
            },
            "disableOnWords": list(settings.typo.disabled_words),
        },
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
        "faceting": {"maxValuesPerFacet": 100},
    }


def _quote(value: str) -> str:
    return json.dumps(str(value))  # a double-quoted string, quotes and backslashes escaped


def _any(attribute: str, values: Sequence[Any], *, quote: bool = True) -> str:
    rendered = [_quote(v) if quote else str(int(v)) for v in values]
    if len(rendered) == 1:
        return f"{attribute} = {rendered[0]}"
    return f"{attribute} IN [{', '.join(rendered)}]"


def condition_expression(conditions: Sequence[Condition]) -> str:
    """Boost/bury conditions as one parenthesized OR: `(tags = "summer" OR collection_ids = 3
    OR in_stock = true)`."""
    parts = []
    for facet, value in conditions:
        attribute = FACET_ATTRIBUTES[facet]
        if facet == COLLECTION:
            parts.append(f"{attribute} = {int(value)}")
        elif facet == IN_STOCK:
            parts.append(f"{attribute} = {'true' if value == 'true' else 'false'}")
        else:
            parts.append(f"{attribute} = {_quote(value)}")
    return "(" + " OR ".join(dict.fromkeys(parts)) + ")"


def filter_expression(query: SearchQuery) -> str | None:
    """The query's filters in Meilisearch's filter syntax (AND across, IN within a facet)."""
    clauses: list[str] = []
    if query.categories:
        clauses.append(_any("category_ids", query.categories, quote=False))
    if query.collections:
        clauses.append(_any("collection_ids", query.collections, quote=False))
    if query.vendors:
        clauses.append(_any("vendor", query.vendors))
    if query.product_types:
        clauses.append(_any("product_type", query.product_types))
    if query.tags:
        clauses.append(_any("tags", query.tags))
    for values in query.option_groups().values():
        clauses.append(_any("options", values))
    if query.price_min is not None:
        clauses.append(f"price_max >= {int(query.price_min)}")
    if query.price_max is not None:
        clauses.append(f"price_min <= {int(query.price_max)}")
    if query.in_stock:
        clauses.append("in_stock = true")
    if query.include_ids is not None:
        ids = ", ".join(str(int(i)) for i in query.include_ids)
        clauses.append(f"id IN [{ids}]")
    if query.exclude_ids:
        ids = ", ".join(str(int(i)) for i in query.exclude_ids)
        clauses.append(f"id NOT IN [{ids}]")
    if query.any_of:
        clauses.append(condition_expression(query.any_of))
    if query.none_of:
        clauses.append("NOT " + condition_expression(query.none_of))
    return " AND ".join(clauses) or None


def search_body(query: SearchQuery) -> dict[str, Any]:
    """Search parameters other than the window (page/hitsPerPage or offset/limit)."""
    body: dict[str, Any] = {"matchingStrategy": "all"}
    expression = filter_expression(query)
    if expression:
        body["filter"] = expression
    if query.sort in SORT_EXPRESSIONS:
        body["sort"] = SORT_EXPRESSIONS[query.sort]
    if query.facets:
        body["facets"] = [FACET_ATTRIBUTES[f] for f in query.facets] + ["price_min", "price_max"]
    if query.highlight and query.text:
        body.update(attributesToHighlight=["title"], highlightPreTag=PRE, highlightPostTag=POST)
    return body


class MeilisearchRebuild(Rebuild):
    def __init__(self, backend: MeilisearchBackend, uid: str) -> None:
        self.backend = backend
        self.name = uid
        self.tasks: list[int] = []

    def add(self, documents: Sequence[dict[str, Any]]) -> None:
        self.tasks += self.backend._add(self.name, documents, wait=False)

    def swap(self) -> None:
        backend = self.backend
        for uid in self.tasks:
            backend.wait(uid)
        self.tasks = []
        backend.ensure_index(backend.index_uid)
        with backend.calls():
            task = backend.client.swap_indexes([{"indexes": [backend.index_uid, self.name]}])
        backend.wait(task.task_uid)
        with backend.calls():  # the build name now holds the old documents
            task = backend.client.delete_index(self.name)
        backend.wait(task.task_uid)

    def abort(self) -> None:
        with self.backend.calls():
            self.backend.client.delete_index(self.name)


class MeilisearchBackend(SearchBackend):
    name = NAME

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = config["MEILISEARCH_URL"]
        self.api_key = config.get("MEILISEARCH_API_KEY")
        self.index_uid = config.get("MEILISEARCH_INDEX") or "products"
        self.timeout = config.get("MEILISEARCH_TIMEOUT") or 10
        self.task_timeout_ms = int(config.get("MEILISEARCH_TASK_TIMEOUT_MS") or 60_000)
        self.batch_size = int(config.get("MEILISEARCH_BATCH_SIZE") or 1000)
        self._client: meilisearch.Client | None = None
        self._known_index = False

    @property
    def client(self) -> meilisearch.Client:
        if self._client is None:
            self._client = meilisearch.Client(self.url, self.api_key, timeout=self.timeout)
        return self._client

    @contextmanager
    def calls(self) -> Iterator[None]:
        """Client failures become SearchBackendError (the web faces show search as down)."""
        try:
            yield
        except MeilisearchApiError as exc:
            raise SearchBackendError(
                f"Meilisearch refused the request: {exc.code or exc.status_code}: {exc.message}",
                code_name=exc.code,
                refused_request=exc.type == INVALID_REQUEST,
            ) from exc
        except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
            raise SearchBackendError(f"Meilisearch did not answer: {exc.message}") from exc

    def wait(self, task_uid: int) -> dict[str, Any]:
        """Wait for a task; a failed or cancelled one raises with its error."""
        with self.calls():
            task = self.client.wait_for_task(
                task_uid, timeout_in_ms=self.task_timeout_ms, interval_in_ms=50
            )
        if task.status != "succeeded":
            error = task.error or {}
            raise SearchBackendError(
                f"Meilisearch task {task.uid} ({task.type}) {task.status}: "
                f"{error.get('code', 'unknown')}: {error.get('message', 'no message')}",
                task_uid=task.uid,
                code_name=error.get("code"),
                refused_request=error.get("type") == INVALID_REQUEST,
            )
        return {"uid": task.uid, "type": task.type, "details": task.details or {}}

    # -- indexes --------------------------------------------------------------------------------

    def has_index(self) -> bool:
        if self._known_index:
            return True
        try:
            self.client.get_raw_index(self.index_uid)
        except MeilisearchApiError as exc:
            if exc.code == "index_not_found" or exc.status_code == 404:
                return False
            raise SearchBackendError(
                f"Meilisearch refused the request: {exc.code or exc.status_code}: {exc.message}"
            ) from exc
        except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
            raise SearchBackendError(f"Meilisearch did not answer: {exc.message}") from exc
        self._known_index = True
        return True

    def ensure_index(self, uid: str) -> None:
        """Create the index if it is missing (creating an existing one is a harmless failure)."""
        with self.calls():
            task = self.client.create_index(uid, {"primaryKey": "id"})
        try:
            self.wait(task.task_uid)
        except SearchBackendError as exc:
            if exc.details.get("code_name") != "index_already_exists":
                raise

    def _targets(self) -> list[str]:
        building = db.session.scalars(
            select(SearchGeneration.name).where(
                SearchGeneration.backend == NAME, SearchGeneration.status == BUILDING
            )
        )
        return [self.index_uid, *[name for name in building if name]]

    def configure(self, settings: IndexSettings) -> None:
        body = index_settings(settings)
        for uid in self._targets():
            with self.calls():
                task = self.client.index(uid).update_settings(body)
            self.wait(task.task_uid)

    def _add(self, uid: str, documents: Sequence[dict[str, Any]], *, wait: bool) -> list[int]:
        tasks = []
        for start in range(0, len(documents), self.batch_size):
            batch = list(documents[start : start + self.batch_size])
            with self.calls():
                task = self.client.index(uid).add_documents(batch, primary_key="id")
            tasks.append(task.task_uid)
        if wait:
            for task_uid in tasks:
                self.wait(task_uid)
        return tasks

    def index(self, documents: Sequence[dict[str, Any]]) -> None:
        if documents:
            for uid in self._targets():
                self._add(uid, documents, wait=True)

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        expression = "id IN [" + ", ".join(str(int(i)) for i in ids) + "]"
        for uid in self._targets():
            with self.calls():
                task = self.client.index(uid).delete_documents(filter=expression)
            self.wait(task.task_uid)

    def start_rebuild(self, generation_id: int, settings: IndexSettings) -> MeilisearchRebuild:
        uid = f"{self.index_uid}_build_{generation_id}"
        self.ensure_index(uid)
        with self.calls():
            task = self.client.index(uid).update_settings(index_settings(settings))
        self.wait(task.task_uid)
        return MeilisearchRebuild(self, uid)

    # -- queries --------------------------------------------------------------------------------

    def search(self, query: SearchQuery, settings: IndexSettings) -> SearchResult:
        started = time.perf_counter()
        offset, limit = query.window
        body = search_body(query)
        index = self.client.index(self.index_uid)
        with self.calls():
            if limit == 0:  # the count and facets only (a rule's group below the window)
                answer = counted = index.search(query.text, {**body, "page": 0, "hitsPerPage": 1})
            elif offset % limit == 0:
                answer = index.search(
                    query.text, {**body, "page": offset // limit + 1, "hitsPerPage": limit}
                )
                counted = answer
            else:
                hits_body = {k: v for k, v in body.items() if k != "facets"}
                answer = index.search(query.text, {**hits_body, "offset": offset, "limit": limit})
                counted = index.search(query.text, {**body, "page": 0, "hitsPerPage": 1})
        return self._result(query, answer, counted, started)

    def _result(
        self, query: SearchQuery, answer: dict[str, Any], counted: dict[str, Any], started: float
    ) -> SearchResult:
        hits = []
        for raw in answer.get("hits", []):
            formatted = raw.get("_formatted") or {}
            document = {k: v for k, v in raw.items() if not k.startswith("_")}
            hit = Hit(id=int(document["id"]), document=document)
            if "title" in formatted:
                hit.highlights["title"] = from_tagged(str(formatted["title"]))
            hits.append(hit)
        total = int(counted.get("totalHits", counted.get("estimatedTotalHits", 0)) or 0)
        distribution = counted.get("facetDistribution") or {}
        facets = {}
        for name in query.facets:
            values = distribution.get(FACET_ATTRIBUTES[name])
            if values:
                facets[name] = top_values({str(k): int(v) for k, v in values.items()})
        stats = counted.get("facetStats") or {}
        price_range = None
        if total and "price_min" in stats and "price_max" in stats:
            price_range = (int(stats["price_min"]["min"]), int(stats["price_max"]["max"]))
        return SearchResult(
            hits=hits,
            total=total,
            facets=facets,
            took_ms=(time.perf_counter() - started) * 1000,
            query=query,
            price_range=price_range,
            backend=NAME,
            total_exact=total < MAX_TOTAL_HITS,  # Meilisearch stops counting there
        )
