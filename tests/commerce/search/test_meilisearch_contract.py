"""The Meilisearch adapter against Meilisearch's documented API (no server needed).

A pytest-httpserver plays the documented API (meili_contract.py): every request our adapter
sends is checked (route, method, body) and kept, so the tests assert the exact settings
payload, filter expressions, sort strings, document batches and the swap; and the adapter
parses documented responses, including failed tasks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from commerce.extensions import db
from commerce.outbox import OutboxEvent
from commerce.search.port import IndexSettings, SearchBackendError, SearchQuery, TypoSettings
from tests.commerce.search.meili_contract import DocumentedApi
from tests.conftest import base_config


@pytest.fixture
def api(httpserver) -> Iterator[DocumentedApi]:
    documented = DocumentedApi()
    httpserver.expect_request(re.compile(r"^/.*$")).respond_with_handler(documented)
    yield documented
    assert documented.problems == []


@pytest.fixture
def meili_app(api, httpserver, tmp_path) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from wsgi import create_app

    app = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'meili.db'}",
            MEILISEARCH_URL=httpserver.url_for("/").rstrip("/"),
            MEILISEARCH_API_KEY=api.api_key,
        )
    )
    with app.app_context():
        upgrade(revision="heads")
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def backend(meili_app) -> Any:
    from commerce.search.backends import get_backend

    found = get_backend()
    assert found.name == "meilisearch"
    return found


def test_settings_payload(api, backend):
    settings = IndexSettings(
        synonyms={"tee": ("tshirt",), "tshirt": ("tee",)},
        stop_words=("the", "of"),
        typo=TypoSettings(enabled=True, one_typo=4, two_typos=8, disabled_words=("acme",)),
    )
    backend.configure(settings)

    (patch,) = api.requests("PATCH", "/indexes/products/settings")
    body = patch.body
    assert body["searchableAttributes"][:2] == ["title", "keywords"]
    assert set(body["filterableAttributes"]) >= {
        "id",
        "category_ids",
        "collection_ids",
        "vendor",
        "product_type",
        "tags",
        "options",
        "in_stock",
        "price_min",
        "price_max",
    }
    assert body["sortableAttributes"] == ["price_min", "price_max", "created_at", "popularity"]
    assert "description" not in body["displayedAttributes"] and "id" in body["displayedAttributes"]
    assert body["rankingRules"] == [
        "sort",
        "words",
        "typo",
        "proximity",
        "attribute",
        "exactness",
        "popularity:desc",
    ]
    assert body["synonyms"] == {"tee": ["tshirt"], "tshirt": ["tee"]}
    assert body["stopWords"] == ["the", "of"]
    assert body["typoTolerance"] == {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8},
        "disableOnWords": ["acme"],
    }
    assert api.requests("GET", r"/tasks/\d+")  # it waited for the settings task
    assert patch.headers["Authorization"] == f"Bearer {api.api_key}"


def test_documents_go_in_batches_and_each_task_is_awaited(api, backend):
    backend.batch_size = 2
    backend.index([{"id": n, "title": f"P{n}"} for n in range(1, 6)])

    batches = api.documents_sent()
    assert [[d["id"] for d in b] for b in batches] == [[1, 2], [3, 4], [5]]
    adds = api.requests("POST", "/indexes/products/documents")
    assert all(a.query == {"primaryKey": ["id"]} for a in adds)
    waited = {int(s.path.rsplit("/", 1)[1]) for s in api.requests("GET", r"/tasks/\d+")}
    assert len(waited) == 3


def test_delete_is_a_filter_on_ids(api, backend):
    backend.delete([3, 4])
    (sent,) = api.requests("POST", "/indexes/products/documents/delete")
    assert sent.body == {"filter": "id IN [3, 4]"}


def test_a_failed_task_is_reported_with_its_error(api, backend):
    api.fail_next["documentAdditionOrUpdate"] = {
        "message": 'Document identifier `"x y"` is invalid.',
        "code": "invalid_document_id",
        "type": "invalid_request",
        "link": "https://docs.meilisearch.com/errors#invalid_document_id",
    }
    with pytest.raises(SearchBackendError) as failure:
        backend.index([{"id": 1, "title": "One"}])
    assert "invalid_document_id" in failure.value.detail
    assert "failed" in failure.value.detail
    assert "invalid_document_id" not in failure.value.message  # shoppers read that one
    assert failure.value.details["code_name"] == "invalid_document_id"


def test_search_request_and_documented_response(api, backend):
    api.indexes.add("products")
    api.search_answers.append(
        {
            "hits": [
                {
                    "id": 7,
                    "title": "Blue <script>T-Shirt",
                    "price_min": 1999,
                    "_formatted": {"title": "<mark>Blue</mark> <script>T-Shirt", "id": "7"},
                }
            ],
            "total": 31,
            "facets": {
                "category_ids": {"3": 20, "5": 11},
                "vendor": {'Acme "Best"': 31},
                "options": {"Size:M": 12},
                "in_stock": {"true": 30, "false": 1},
                "price_min": {"1999": 31},
            },
            "stats": {
                "price_min": {"min": 1999, "max": 4999},
                "price_max": {"min": 1999, "max": 5999},
            },
        }
    )
    query = SearchQuery(
        text="blu",
        categories=(3, 5),
        vendors=('Acme "Best"',),
        options=(("Size", "M"), ("Size", "L"), ("Color", "Blue")),
        price_min=1000,
        price_max=5000,
        in_stock=True,
        exclude_ids=(9,),
        sort="price-asc",
        page=2,
        per_page=10,
    )
    result = backend.search(query, IndexSettings())

    (sent,) = api.requests("POST", "/indexes/products/search")
    assert sent.body == {
        "q": "blu",
        "matchingStrategy": "all",
        "filter": (
            'category_ids IN [3, 5] AND vendor = "Acme \\"Best\\"" AND '
            'options IN ["Size:M", "Size:L"] AND options = "Color:Blue" AND '
            "price_max >= 1000 AND price_min <= 5000 AND in_stock = true AND id NOT IN [9]"
        ),
        "sort": ["price_min:asc"],
        "facets": [
            "category_ids",
            "collection_ids",
            "vendor",
            "product_type",
            "tags",
            "options",
            "in_stock",
            "price_min",
            "price_max",
        ],
        "attributesToHighlight": ["title"],
        "highlightPreTag": "<mark>",
        "highlightPostTag": "</mark>",
        "page": 2,
        "hitsPerPage": 10,
    }
    assert result.total == 31 and result.ids == [7]
    assert str(result.hits[0].title_html) == "<mark>Blue</mark> &lt;script&gt;T-Shirt"
    assert "_formatted" not in result.hits[0].document
    assert result.facets["category"] == {"3": 20, "5": 11}
    assert result.facets["vendor"] == {'Acme "Best"': 31}
    assert result.facets["in_stock"] == {"true": 30, "false": 1}
    assert result.price_range == (1999, 5999)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("relevance", None),
        ("price-desc", ["price_max:desc"]),
        ("newest", ["created_at:desc"]),
        ("best-selling", ["popularity:desc"]),
    ],
)
def test_sort_strings(api, backend, sort, expected):
    api.indexes.add("products")
    backend.search(SearchQuery(text="", sort=sort, facets=()), IndexSettings())
    (sent,) = api.requests("POST", "/indexes/products/search")
    assert sent.body.get("sort") == expected
    assert "facets" not in sent.body and "attributesToHighlight" not in sent.body


def test_a_window_off_the_page_grid_asks_for_the_exhaustive_count_separately(api, backend):
    api.indexes.add("products")
    api.search_answers += [{"hits": [{"id": 4}, {"id": 5}], "total": 40}, {"hits": [], "total": 40}]
    query = SearchQuery(text="mug", include_ids=(4, 5, 6)).with_window(3, 10)
    result = backend.search(query, IndexSettings())

    hits_request, count_request = api.requests("POST", "/indexes/products/search")
    assert hits_request.body["offset"] == 3 and hits_request.body["limit"] == 10
    assert "facets" not in hits_request.body
    assert hits_request.body["filter"] == "id IN [4, 5, 6]"
    assert count_request.body["page"] == 0 and "facets" in count_request.body
    assert result.total == 40 and result.ids == [4, 5]


def test_rebuild_fills_a_new_index_and_swaps_it_in(api, meili_app, make_meili_catalog):
    from commerce.search.indexing import reindex
    from commerce.search.models import SearchGeneration

    make_meili_catalog()
    api.indexes.add("products")  # the live index exists: creating it again fails harmlessly
    result = reindex(batch=2)

    build = f"products_build_{result.generation_id}"
    calls = [(s.method, s.path) for s in api.sent if not s.path.startswith("/tasks/")]
    assert calls[0] == ("POST", "/indexes")
    assert api.sent[0].body == {"uid": build, "primaryKey": "id"}
    assert calls[1] == ("PATCH", f"/indexes/{build}/settings")
    assert calls[2:4] == [("POST", f"/indexes/{build}/documents")] * 2
    assert calls[4:] == [
        ("POST", "/indexes"),  # make sure the live index exists before the swap
        ("POST", "/swap-indexes"),
        ("DELETE", f"/indexes/{build}"),  # the old documents, now under the build's name
    ]
    (swap,) = api.requests("POST", "/swap-indexes")
    assert swap.body == [{"indexes": ["products", build]}]
    sent = [d["id"] for batch in api.documents_sent(build) for d in batch]
    assert len(sent) == 3 and result.documents == 3  # the draft stays out
    generation = db.session.get(SearchGeneration, result.generation_id)
    assert generation.status == "live" and generation.name == build


@pytest.fixture
def make_meili_catalog(meili_app) -> Any:
    def make() -> dict[str, Any]:
        from commerce.catalog.services import create_product

        made = {
            "tee": create_product(title="Blue T-Shirt", status="active", price=1999, by=None),
            "mug": create_product(title="Ceramic Mug", status="active", price=1299, by=None),
            "cap": create_product(title="Red Cap", status="active", price=999, by=None),
            "draft": create_product(title="Draft Hoodie", price=3999, by=None),
        }
        return {k: p.id for k, p in made.items()}

    return make


def _documents_for(api: DocumentedApi, product_id: int) -> list[dict[str, Any]]:
    return [d for batch in api.documents_sent() for d in batch if d["id"] == product_id]


def test_a_price_change_reaches_meilisearch_once(api, meili_app, make_meili_catalog):
    from commerce.catalog.services import get_product, update_variant
    from commerce.outbox import dispatch_pending
    from commerce.search.tasks import on_event, sync_index

    ids = make_meili_catalog()
    dispatch_pending()  # the first events build the index (there is none yet)
    assert api.requests("POST", "/swap-indexes")
    mug = get_product(ids["mug"])
    before = len(_documents_for(api, mug.id))
    update_variant(mug.variants[0], price=1500, by=None)
    (event,) = [
        e
        for e in db.session.scalars(
            db.select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        )
        if e.topic == "product.changed"
    ]
    dispatch_pending()

    sent = _documents_for(api, mug.id)[before:]
    assert [d["price_min"] for d in sent] == [1500]
    on_event(event)  # delivered again
    sync_index.delay()  # the task runs twice
    sync_index.delay()
    dispatch_pending()
    assert [d["price_min"] for d in _documents_for(api, mug.id)[before:]] == [1500]


def test_a_refused_update_stays_pending_and_the_next_run_sends_it(
    api, meili_app, make_meili_catalog
):
    from commerce.catalog.services import get_product, update_variant
    from commerce.outbox import dispatch_pending
    from commerce.search.indexing import sync_pending
    from commerce.search.models import SearchPending
    from commerce.search.tasks import sync_index

    ids = make_meili_catalog()
    dispatch_pending()
    cap = get_product(ids["cap"])
    update_variant(cap.variants[0], price=800, by=None)
    api.fail_next["documentAdditionOrUpdate"] = {
        "message": "Internal error.",
        "code": "internal",
        "type": "internal",
        "link": "https://docs.meilisearch.com/errors#internal",
    }
    dispatch_pending()  # the outbox delivered; Meilisearch failed the task

    (row,) = db.session.scalars(db.select(SearchPending).where(SearchPending.applied_at.is_(None)))
    assert row.attempts == 1 and "internal" in row.last_error
    assert sync_index.delay().get() == 0  # the periodic sync leaves it to its backoff
    assert sync_pending(now=row.next_attempt_at) == 1  # and sends it again once that is over
    assert [d["price_min"] for d in _documents_for(api, cap.id)][-1] == 800
    assert db.session.get(SearchPending, row.event_id).applied_at is not None


def test_a_missing_index_is_built_before_updates(api, backend):
    assert backend.has_index() is False
    assert len(api.requests("GET", "/indexes/products")) == 1
    api.indexes.add("products")
    assert backend.has_index() is True


def test_merchandising_changes_are_pushed_as_settings(api, meili_app, make_meili_catalog):
    from commerce.outbox import dispatch_pending
    from commerce.search import rules as search_rules

    make_meili_catalog()
    dispatch_pending()
    pushed = len(api.requests("PATCH", "/indexes/products/settings"))
    search_rules.add_synonym(terms=["tee", "t-shirt"], by=None)
    search_rules.update_settings(stop_words=["the"], typo_one=4, by=None)
    dispatch_pending()

    patches = api.requests("PATCH", "/indexes/products/settings")[pushed:]
    assert patches, "the change was not pushed"
    last = patches[-1].body
    assert last["synonyms"] == {"tee": ["tshirt"], "tshirt": ["tee"]}
    assert last["stopWords"] == ["the"]
    assert last["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 4, "twoTypos": 9}


def test_boost_and_bury_conditions_are_filter_expressions(api, backend):
    api.indexes.add("products")
    query = SearchQuery(
        text="shirt",
        tags=("cotton",),
        any_of=(("tag", 'summer "hot"'), ("vendor", "Acme"), ("collection", "3")),
        none_of=(("in_stock", "true"), ("tag", "sale")),
        facets=(),
    )
    backend.search(query, IndexSettings())

    (sent,) = api.requests("POST", "/indexes/products/search")
    assert sent.body["filter"] == (
        'tags = "cotton" AND '
        '(tags = "summer \\"hot\\"" OR vendor = "Acme" OR collection_ids = 3) AND '
        'NOT (in_stock = true OR tags = "sale")'
    )
    with pytest.raises(ValueError):
        SearchQuery(any_of=(("collection", "3 OR id > 0"),))
    with pytest.raises(ValueError):
        SearchQuery(none_of=(("price_min", "1"),))


def test_a_boosting_rule_answers_group_by_group(api, meili_app, backend):
    from commerce.search import rules as search_rules
    from commerce.search import search

    meili_app.config["SEARCH_EMBEDDED_CATCH_UP"] = False
    api.indexes.add("products")
    search_rules.create_rule(
        query="shirt",
        boosts=[
            {"effect": "boost", "field": "tag", "value": "summer"},
            {"effect": "bury", "field": "in_stock"},
        ],
        by=None,
    )
    facets = {"vendor": {"Acme": 1}}
    api.search_answers += [
        {"hits": [], "total": 2, "facets": facets},  # boosted: wholly before the window
        {"hits": [{"id": 5}, {"id": 6}], "total": 3},  # the rest: the window's hits
        {"hits": [], "total": 3, "facets": facets},  # and its count (off the page grid)
        {"hits": [{"id": 9}], "total": 4, "facets": facets},  # buried
    ]
    result = search(SearchQuery(text="shirt", page=2, per_page=3, facets=("vendor",)))

    boosted, rest, rest_count, buried = api.requests("POST", "/indexes/products/search")
    assert boosted.body["filter"] == '(tags = "summer")'
    assert (boosted.body["page"], boosted.body["hitsPerPage"]) == (2, 3)
    assert rest.body["filter"] == 'NOT (tags = "summer" OR in_stock = true)'
    assert (rest.body["offset"], rest.body["limit"]) == (1, 3)  # past the 2 boosted ones
    assert rest_count.body["filter"] == rest.body["filter"] and rest_count.body["page"] == 0
    assert buried.body["filter"] == '(in_stock = true) AND NOT (tags = "summer")'
    assert (buried.body["page"], buried.body["hitsPerPage"]) == (1, 1)
    assert result.ids == [5, 6, 9] and result.total == 9
    assert [h.boost for h in result.hits] == ["", "", "bury"]
    assert result.facets == {"vendor": {"Acme": 3}}

    # A page the boosted group fills: the groups below are only counted (one request each).
    sent = len(api.requests("POST", "/indexes/products/search"))
    api.search_answers += [
        {"hits": [{"id": 1}, {"id": 2}], "total": 2},
        {"hits": [], "total": 3},
        {"hits": [], "total": 4},
    ]
    first = search(SearchQuery(text="shirt", per_page=2, facets=()))
    later = api.requests("POST", "/indexes/products/search")[sent:]
    assert [(s.body["page"], s.body["hitsPerPage"]) for s in later] == [(1, 2), (0, 1), (0, 1)]
    assert first.ids == [1, 2] and first.total == 9 and first.pages == 5
    # Sorted by price: one plain request, the rule's boosts do not apply.
    search(SearchQuery(text="shirt", sort="price-asc"))
    assert "filter" not in api.requests("POST", "/indexes/products/search")[-1].body


def test_push_now_reports_a_refused_push_and_a_retry(api, meili_app, make_meili_catalog):
    from commerce.outbox import dispatch_pending
    from commerce.search import rules as search_rules
    from commerce.search.services import push_settings, push_status

    make_meili_catalog()
    dispatch_pending()  # the first build
    search_rules.add_synonym(terms=["tee", "t-shirt"], by=None)
    assert push_status().waiting == 1  # still in the outbox
    api.fail_next["settingsUpdate"] = {
        "message": "Internal error.",
        "code": "internal",
        "type": "internal",
        "link": "https://docs.meilisearch.com/errors#internal",
    }
    refused = push_settings(by=None)
    assert refused.backend == "meilisearch" and not refused.reads_live
    assert not refused.current and refused.failing == 2 and "internal" in refused.last_error
    pushed = len(api.requests("PATCH", "/indexes/products/settings"))
    done = push_settings(by=None)
    assert done.current and done.waiting == 0 and done.pushed_at is not None
    last = api.requests("PATCH", "/indexes/products/settings")[pushed:][-1]
    assert last.body["synonyms"] == {"tee": ["tshirt"], "tshirt": ["tee"]}
