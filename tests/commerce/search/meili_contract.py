"""Meilisearch's documented HTTP API, as far as our adapter uses it, for contract tests.

`DocumentedApi` answers on a pytest-httpserver the way the API reference says Meilisearch
answers (summarized task objects with 202 for asynchronous writes, task objects at
/tasks/{uid}, index objects, search responses), refuses any route or body the reference does
not describe, and keeps every request so a test can check exactly what our adapter sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

ENQUEUED_AT = "2026-11-24T10:00:00.000000Z"
SETTINGS_KEYS = {
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "displayedAttributes",
    "rankingRules",
    "synonyms",
    "stopWords",
    "typoTolerance",
    "pagination",
    "faceting",
}
SEARCH_KEYS = {
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "filter",
    "facets",
    "attributesToRetrieve",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "sort",
    "matchingStrategy",
}


@dataclass
class Sent:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class DocumentedApi:
    api_key: str = "test-master-key"
    indexes: set[str] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    fail_next: dict[str, dict[str, Any]] = field(default_factory=dict)  # task type -> error
    search_answers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    # -- what tests read ------------------------------------------------------------------------

    def requests(self, method: str, pattern: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and re.fullmatch(pattern, s.path)]

    def documents_sent(self, index: str = "products") -> list[list[dict[str, Any]]]:
        return [s.body for s in self.requests("POST", f"/indexes/{index}/documents")]

    # -- the server -----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        try:
            parsed = json.loads(body) if body else None
        except json.JSONDecodeError:
            return self._error(400, "malformed_payload", "The JSON body is malformed.")
        sent = Sent(
            request.method,
            request.path,
            parse_qs(request.query_string.decode()),
            parsed,
            dict(request.headers),
        )
        self.sent.append(sent)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "missing_authorization_header", "The key is missing.")
        try:
            return self._route(sent)
        except AssertionError as exc:  # a request the reference does not describe
            self.problems.append(f"{sent.method} {sent.path}: {exc}")
            return self._error(400, "bad_request", str(exc))

    def _route(self, s: Sent) -> Response:
        m = re.fullmatch(r"/tasks/(\d+)", s.path)
        if s.method == "GET" and m:
            return self._json(self.tasks[int(m.group(1))])
        if s.method == "POST" and s.path == "/indexes":
            assert set(s.body) <= {"uid", "primaryKey"} and s.body["primaryKey"] == "id"
            uid = s.body["uid"]
            if uid in self.indexes:
                return self._task("indexCreation", uid, error=_error("index_already_exists"))
            self.indexes.add(uid)
            return self._task("indexCreation", uid)
        m = re.fullmatch(r"/indexes/([A-Za-z0-9_-]+)", s.path)
        if m and s.method == "GET":
            if m.group(1) not in self.indexes:
                return self._error(404, "index_not_found", f"Index `{m.group(1)}` not found.")
            return self._json({"uid": m.group(1), "primaryKey": "id", **_dates()})
        if m and s.method == "DELETE":
            self.indexes.discard(m.group(1))
            return self._task("indexDeletion", m.group(1))
        m = re.fullmatch(r"/indexes/([A-Za-z0-9_-]+)/settings", s.path)
        if m and s.method == "PATCH":
            assert isinstance(s.body, dict) and set(s.body) <= SETTINGS_KEYS, "unknown setting"
            return self._task("settingsUpdate", m.group(1))
        m = re.fullmatch(r"/indexes/([A-Za-z0-9_-]+)/documents", s.path)
        if m and s.method == "POST":
            assert isinstance(s.body, list) and all("id" in d for d in s.body), "documents"
            assert s.query.get("primaryKey") in (None, ["id"])
            return self._task("documentAdditionOrUpdate", m.group(1))
        m = re.fullmatch(r"/indexes/([A-Za-z0-9_-]+)/documents/delete", s.path)
        if m and s.method == "POST":
            assert isinstance(s.body, dict) and set(s.body) == {"filter"}, "delete by filter"
            return self._task("documentDeletion", m.group(1))
        if s.method == "POST" and s.path == "/swap-indexes":
            assert isinstance(s.body, list) and all(
                set(pair) <= {"indexes", "rename"} and len(pair["indexes"]) == 2 for pair in s.body
            ), "swap body"
            return self._task("indexSwap", None)
        m = re.fullmatch(r"/indexes/([A-Za-z0-9_-]+)/search", s.path)
        if m and s.method == "POST":
            assert isinstance(s.body, dict) and set(s.body) <= SEARCH_KEYS, "search parameters"
            assert not ({"page", "hitsPerPage"} & set(s.body) and {"offset", "limit"} & set(s.body))
            if m.group(1) not in self.indexes:
                return self._error(404, "index_not_found", f"Index `{m.group(1)}` not found.")
            answer = self.search_answers.pop(0) if self.search_answers else {"hits": []}
            return self._json(search_response(s.body, **answer))
        raise AssertionError("no such route in the API reference")

    # -- documented response shapes -------------------------------------------------------------

    def _task(self, kind: str, index_uid: str | None, *, error: Any = None) -> Response:
        uid = len(self.tasks)
        error = error or self.fail_next.pop(kind, None)
        self.tasks[uid] = {
            "uid": uid,
            "batchUid": uid,
            "indexUid": index_uid,
            "status": "failed" if error else "succeeded",
            "type": kind,
            "canceledBy": None,
            "details": {},
            "error": error,
            "duration": "PT0.01S",
            "enqueuedAt": ENQUEUED_AT,
            "startedAt": ENQUEUED_AT,
            "finishedAt": ENQUEUED_AT,
        }
        summarized = {
            "taskUid": uid,
            "indexUid": index_uid,
            "status": "enqueued",
            "type": kind,
            "enqueuedAt": ENQUEUED_AT,
        }
        return self._json(summarized, status=202)

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _error(self, status: int, code: str, message: str) -> Response:
        return self._json(_error(code, message), status=status)


def _error(code: str, message: str = "") -> dict[str, Any]:
    return {
        "message": message or code.replace("_", " "),
        "code": code,
        "type": "invalid_request",
        "link": f"https://docs.meilisearch.com/errors#{code}",
    }


def _dates() -> dict[str, str]:
    return {"createdAt": ENQUEUED_AT, "updatedAt": ENQUEUED_AT}


def search_response(
    body: dict[str, Any],
    *,
    hits: list[dict[str, Any]],
    total: int | None = None,
    facets: dict[str, dict[str, int]] | None = None,
    stats: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """A search response as documented: exhaustive totals with page/hitsPerPage, estimated
    with offset/limit; facetDistribution and facetStats when facets were asked for."""
    total = len(hits) if total is None else total
    answer: dict[str, Any] = {"hits": hits, "query": body.get("q", ""), "processingTimeMs": 1}
    if "page" in body or "hitsPerPage" in body:
        per_page = body.get("hitsPerPage", 20)
        answer.update(
            page=body.get("page", 1),
            hitsPerPage=per_page,
            totalHits=total,
            totalPages=-(-total // per_page) if per_page else 0,
        )
        if body.get("page") == 0:
            answer["hits"] = []
    else:
        answer.update(
            offset=body.get("offset", 0), limit=body.get("limit", 20), estimatedTotalHits=total
        )
    if body.get("facets"):
        answer["facetDistribution"] = facets or {}
        answer["facetStats"] = stats or {}
    return answer
