"""`flask search reindex` and `flask search sync`."""

from __future__ import annotations

from sqlalchemy import select

from commerce.extensions import db
from commerce.jobs import Job
from commerce.search import SearchQuery, search
from commerce.search.models import SearchGeneration


def test_reindex_shows_progress_records_a_job_and_swaps(app, make_product):
    for n in range(3):
        make_product(f"Walnut Board {n}", status="active")
    make_product("Walnut Draft")
    runner = app.test_cli_runner()

    first = runner.invoke(args=["search", "reindex"])
    second = runner.invoke(args=["search", "reindex"])

    assert first.exit_code == 0, first.output
    assert "Indexing products" in first.output
    assert "Indexed 3 products" in second.output and "swapped it in" in second.output
    statuses = dict(db.session.execute(select(SearchGeneration.id, SearchGeneration.status)).all())
    assert sorted(statuses.values()) == ["live", "retired"]
    job = db.session.scalars(select(Job).where(Job.kind == "search_reindex")).all()[-1]
    assert job.status == "succeeded" and job.result["documents"] == 3
    assert search(SearchQuery(text="walnut")).total == 3


def test_sync_applies_waiting_events(app, make_product, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_EMBEDDED_CATCH_UP", False)
    runner = app.test_cli_runner()
    runner.invoke(args=["search", "reindex", "--quiet"])
    product = make_product("Maple Spoon", status="active")
    assert search(SearchQuery(text="maple")).total == 0

    result = runner.invoke(args=["search", "sync"])

    assert result.exit_code == 0 and "Applied 1 events" in result.output
    assert search(SearchQuery(text="maple")).ids == [product.id]
