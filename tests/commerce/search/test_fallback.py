"""Meilisearch down: searches answered by the database's standby index, index changes kept
with a growing delay between attempts (never dropped), one refused change not holding the
others back, and the shop's pages showing no internal detail.

Meilisearch is played by the documented API on a pytest-httpserver (meili_contract.py), which
answers 503 to everything while `down` is set.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from commerce.extensions import db
from commerce.search import SearchQuery, search
from commerce.search.models import SearchPending
from tests.commerce.search.meili_contract import DocumentedApi
from tests.conftest import base_config


class Meili:
    def __init__(self) -> None:
        self.api = DocumentedApi()
        self.down = threading.Event()
        self.poison = ""  # documents whose title contains this are refused as invalid
        self.received = 0

    def __call__(self, request: Request) -> Response:
        self.received += 1
        if self.down.is_set():
            return Response("no healthy upstream", status=503)
        if self.poison and request.method == "POST" and request.path.endswith("/documents"):
            documents = request.get_json(silent=True) or []
            if any(self.poison in d.get("title", "") for d in documents):
                error = {
                    "message": "Document identifier is invalid.",
                    "code": "invalid_document_id",
                    "type": "invalid_request",
                    "link": "https://docs.meilisearch.com/errors#invalid_document_id",
                }
                return self.api._task("documentAdditionOrUpdate", "products", error=error)
        return self.api(request)

    def calls(self) -> int:
        return self.received


@pytest.fixture
def meili(httpserver: Any) -> Iterator[Meili]:
    fake = Meili()
    httpserver.expect_request(re.compile(r"^/.*$")).respond_with_handler(fake)
    yield fake
    assert fake.api.problems == []


def _app(tmp_path: Any, httpserver: Any, meili: Meili, **extra: Any) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from wsgi import create_app

    app = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fallback.db'}",
            MEILISEARCH_URL=httpserver.url_for("/").rstrip("/"),
            MEILISEARCH_API_KEY=meili.api.api_key,
            SEARCH_EMBEDDED_CATCH_UP=False,
            PROPAGATE_EXCEPTIONS=False,
            **extra,
        )
    )
    with app.app_context():
        upgrade(revision="heads")
        # Alembic's fileConfig disables the loggers that exist when it runs (ours included).
        logging.getLogger("commerce.search.fallback").disabled = False
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def meili_app(tmp_path: Any, httpserver: Any, meili: Meili) -> Iterator[Flask]:
    yield from _app(tmp_path, httpserver, meili)


def catalog(*titles: str) -> list[Any]:
    from commerce.catalog.services import create_product
    from commerce.outbox import dispatch_pending

    made = [create_product(title=t, price=1500, status="active", by=None) for t in titles]
    dispatch_pending()  # the first events build Meilisearch's index and the standby
    return made


def open_rows() -> list[SearchPending]:
    return list(db.session.scalars(select(SearchPending).where(SearchPending.applied_at.is_(None))))


def test_searches_fall_back_to_the_standby_and_rest_the_engine(meili_app, meili, caplog):
    from commerce.search.indexing import pending_status

    catalog("Walnut Board", "Maple Spoon")
    assert pending_status().standby == "live"
    meili.down.set()
    before = meili.calls()

    with caplog.at_level(logging.WARNING, logger="commerce.search.fallback"):
        first = search(SearchQuery(text="walnut"))
        again = search(SearchQuery(text="maple"))

    assert (first.backend, first.total) == ("db-standby", 1)
    assert first.hits[0].document["title"] == "Walnut Board"
    assert (again.backend, again.total) == ("db-standby", 1)
    assert meili.calls() == before + 1  # the second search did not ask the engine again
    warnings = [r.getMessage() for r in caplog.records if r.name == "commerce.search.fallback"]
    assert len(warnings) == 1 and "standby index" in warnings[0]


def test_the_engine_is_asked_again_after_the_rest(meili_app, meili, caplog):
    from commerce.search.fallback import breaker

    catalog("Walnut Board")
    meili.down.set()
    assert search(SearchQuery(text="walnut")).backend == "db-standby"
    meili.down.clear()
    breaker().resting_until = 0  # the rest (SEARCH_FALLBACK_SECONDS) is over
    meili.api.search_answers.append({"hits": [{"id": 1, "title": "Walnut Board"}]})

    with caplog.at_level(logging.WARNING, logger="commerce.search.fallback"):
        assert search(SearchQuery(text="walnut")).backend == "meilisearch"
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_index_changes_back_off_and_are_never_dropped(meili_app, meili):
    from commerce.catalog.services import update_product
    from commerce.outbox import dispatch_pending
    from commerce.search.indexing import sync_pending

    (board,) = catalog("Walnut Board")
    meili.down.set()
    update_product(board, title="Cedar Crate", by=None)
    dispatch_pending()
    (row,) = open_rows()
    delays = []
    while row.attempts < 30:
        due = row.next_attempt_at
        assert sync_pending(now=due - timedelta(seconds=1)) == 0  # not yet: nothing is tried
        calls = meili.calls()
        assert sync_pending(now=due) == 0
        assert meili.calls() > calls
        db.session.refresh(row)
        delays.append((row.next_attempt_at - due).total_seconds())

    assert row.applied_at is None and "503" in row.last_error
    assert delays[:6] == [20, 40, 80, 160, 300, 300]  # doubling from 10 s, at most 5 minutes
    # The standby took the change at the first attempt: searches find the new name.
    assert search(SearchQuery(text="cedar")).total == 1
    meili.down.clear()
    assert sync_pending(now=row.next_attempt_at) == 1
    sent = [d for batch in meili.api.documents_sent() for d in batch if d["id"] == board.id]
    assert sent[-1]["title"] == "Cedar Crate"


def test_a_change_taken_wakes_those_waiting_out_a_backoff(meili_app, meili):
    from commerce.catalog.services import create_product, update_product
    from commerce.outbox import dispatch_pending

    (board, _spoon) = catalog("Walnut Board", "Maple Spoon")
    meili.down.set()
    update_product(board, title="Cedar Crate", by=None)
    dispatch_pending()
    assert [r.attempts for r in open_rows()] == [1]
    meili.down.clear()
    create_product(title="Oak Stool", price=900, status="active", by=None)
    dispatch_pending()  # the new change goes at once, and the waiting one with it

    assert open_rows() == []
    titles = {d["title"] for batch in meili.api.documents_sent() for d in batch}
    assert {"Cedar Crate", "Oak Stool"} <= titles


def test_one_refused_change_does_not_hold_back_the_others(meili_app, meili):
    from commerce.catalog.services import update_product
    from commerce.outbox import dispatch_pending
    from commerce.search.indexing import apply_pending

    board, spoon = catalog("Walnut Board", "Maple Spoon")
    meili.down.set()  # both changes wait in one batch
    update_product(board, title="Poison Board", by=None)
    update_product(spoon, title="Birch Spoon", by=None)
    dispatch_pending()
    assert len(open_rows()) == 2
    meili.poison = "Poison"
    meili.down.clear()

    run = apply_pending(everything=True)

    assert (run.applied, run.failed) == (1, 1)
    (stuck,) = open_rows()
    assert "invalid_document_id" in stuck.last_error and stuck.next_attempt_at is not None
    titles = {d["title"] for batch in meili.api.documents_sent() for d in batch}
    assert "Birch Spoon" in titles


def test_without_a_standby_the_shop_says_search_is_unavailable(tmp_path, httpserver, meili):
    for app in _app(tmp_path, httpserver, meili, SEARCH_DB_STANDBY=False):
        catalog("Walnut Board")
        meili.down.set()
        client = app.test_client()
        page = client.get("/search?q=walnut")
        suggestions = client.get("/search/suggest?q=walnu")

        text = page.get_data(as_text=True)
        assert page.status_code == 503
        assert "Search is not available right now" in text
        port = str(httpserver.port)
        for leak in (port, "127.0.0.1", "Meilisearch", "503:", "upstream"):
            assert leak not in text, leak
        assert suggestions.status_code == 200 and suggestions.get_data(as_text=True) == ""
