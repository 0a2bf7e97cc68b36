"""Search at catalog scale: the bucket ranking (title matches first), the bounded work of the db
backend on broad matches (facet counts from a sample, PostgreSQL's counting limit) and how
few statements a search costs. The bounds are lowered here so the small catalog of
conftest.py crosses them; the answers stay exact where the backend says they are."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from commerce.search.backends import db as db_backend
from tests.commerce.search.conftest import ACTIVE
from tests.conftest import count_queries


def test_title_matches_rank_first(world):
    # "Summer Shorts" has the word in its title; the blue tee only in its tags and collection.
    assert world.found(text="summer")[:2] == ["shorts", "blue_tee"]


def _db_only(world) -> None:
    if not world.backend.startswith("db"):
        pytest.skip("bounds of the db backend")


def test_broad_facet_counts_are_estimated_from_a_sample(world, monkeypatch):
    _db_only(world)
    monkeypatch.setattr(db_backend, "FACET_SAMPLE", 3)
    monkeypatch.setattr(db_backend, "_facet_cache", OrderedDict())  # answers kept per revision
    broad = world.search(text="", facets=("in_stock", "vendor"))
    assert broad.total == len(ACTIVE) and broad.total_exact
    assert not broad.facets_exact
    # Scaled to the total: each count is its share of the sample times 7/3.
    assert abs(sum(broad.facets["in_stock"].values()) - len(ACTIVE)) <= 2
    narrow = world.search(text="oxford")
    assert narrow.facets_exact and narrow.facets["vendor"] == {"Northwind": 1}


def test_postgres_counts_up_to_its_limit_then_estimates(world, monkeypatch):
    if world.backend != "db-postgres":
        pytest.skip("PostgreSQL's counting limit")
    monkeypatch.setattr(db_backend, "PG_COUNT_LIMIT", 3)
    monkeypatch.setattr(db_backend, "_facet_cache", OrderedDict())
    result = world.search(text="", per_page=50)
    assert not result.total_exact and result.total >= 4
    assert set(world.names(result.ids)) == set(ACTIVE)  # the page itself is never cut
    assert world.search(text="tshrt").total_exact


def test_a_search_reads_the_index_in_two_statements(world):
    _db_only(world)
    from commerce.search import SearchQuery, search

    with world.app.app_context():
        for query in (
            SearchQuery(text="shirt"),
            SearchQuery(text="blu", vendors=("Acme",), sort="price-asc"),
            SearchQuery(text="", in_stock=True, price_max=5000),
        ):
            search(query)  # the vocabulary is read once per process
            with count_queries() as statements:
                search(query)
            index = [s for s in statements if "search_document" in s]
            assert len(index) <= 2, index


def test_a_narrow_search_on_postgres_reads_the_index_once(world):
    # Every match is known (under the counting limit): the page comes with the counts.
    if world.backend != "db-postgres":
        pytest.skip("PostgreSQL's narrow searches")
    from commerce.search import SearchQuery, search

    with world.app.app_context():
        for query in (SearchQuery(text="shirt"), SearchQuery(text="blu", sort="price-asc")):
            expected = search(query).ids
            with count_queries() as statements:
                result = search(query)
            index = [s for s in statements if "search_document" in s]
            assert len(index) == 1, index
            assert result.ids == expected and result.ids


def test_postgres_walks_of_the_sort_index_give_the_exact_pages(world, monkeypatch):
    """With the bounds lowered every page below is read by walking a sort or rank index (a
    broad search), stopped after PG_WALK rows and then read whole when the walk held fewer
    than the page: the pages stay those of the narrow search (every match ranked)."""
    if world.backend != "db-postgres":
        pytest.skip("PostgreSQL's walks of the sort index")
    monkeypatch.setattr(db_backend, "_facet_cache", OrderedDict())
    tops = world.categories["tops"]
    queries = [
        dict(text="", categories=(tops,), sort="price-asc", per_page=2),
        dict(text="", categories=(tops,), sort="price-desc", per_page=2, page=2),
        dict(text="", vendors=("Acme",), sort="newest", per_page=3),
        dict(text="", none_of=(("vendor", "Acme"),), sort="best-selling", per_page=2),
        dict(text="shirt", sort="price-asc", per_page=2),
        dict(text="tee", per_page=2),
        dict(text="tshrt", per_page=2),
    ]
    expected = [world.search(**q).ids for q in queries]
    assert all(expected)
    monkeypatch.setattr(db_backend, "PG_COUNT_LIMIT", 1)
    monkeypatch.setattr(db_backend, "PG_READ_WHOLE", 0)
    for walk in (1, 1000):
        monkeypatch.setattr(db_backend, "PG_WALK", walk)
        monkeypatch.setattr(db_backend, "_facet_cache", OrderedDict())
        assert [world.search(**q).ids for q in queries] == expected, walk
