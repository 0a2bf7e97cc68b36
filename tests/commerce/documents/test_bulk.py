"""The bulk packing-slip print: a job with progress, one PDF under instance/exports/."""

from __future__ import annotations

from pathlib import Path

import pytest

from commerce.documents import bulk
from commerce.documents.bulk import (
    KIND,
    MAX_ORDERS,
    orders_to_pack,
    packing_slips_file,
    packing_slips_job,
)
from commerce.documents.tasks import start_packing_slips
from commerce.errors import NotFound, ValidationError
from commerce.jobs import FAILED, SUCCEEDED, get_job
from tests.commerce.documents.helpers import pdf_pages


def test_the_job_prints_every_selected_order_on_its_own_page(order_factory, make_staff):
    warehouse = make_staff("warehouse")
    orders = [order_factory(1) for _ in range(4)]
    job = start_packing_slips([o.id for o in orders] + [orders[0].id], by=warehouse)
    job = get_job(job.id)
    assert (job.kind, job.status, job.percent) == (KIND, SUCCEEDED, 100)
    assert (job.done, job.total) == (4, 4)
    assert job.title == "Packing slips for 4 orders" and job.created_by_id == warehouse.id
    assert job.message == "4 packing slips ready."
    assert job.result["pages"] == 4 and job.result["orders"] == [o.number for o in orders]
    path = packing_slips_file(job)
    assert path.parent == bulk.exports_dir() and path.name == f"{job.id}.pdf"
    pages = pdf_pages(path.read_bytes())
    assert [f"#{o.number}" in page for page, o in zip(pages, orders, strict=True)] == [True] * 4
    assert not list(path.parent.glob("*.part"))


def test_a_selection_is_checked_before_the_job_starts(order_factory):
    with pytest.raises(ValidationError, match="at least one"):
        start_packing_slips([], by=None)
    with pytest.raises(ValidationError, match=f"at most {MAX_ORDERS}"):
        start_packing_slips(range(1, MAX_ORDERS + 2), by=None)
    with pytest.raises(ValidationError, match="None of the selected orders"):
        start_packing_slips([987_654], by=None)


def test_a_failed_print_says_so_and_leaves_no_file(order_factory, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of paper")

    monkeypatch.setattr(bulk, "print_packing_slips", broken)
    job = get_job(start_packing_slips([order_factory(1).id], by=None).id)
    assert job.status == FAILED and job.message == "Printing stopped on an error."
    with pytest.raises(NotFound):
        packing_slips_file(job)


def test_a_missing_file_or_another_kind_of_job_is_not_found(order_factory):
    job = get_job(start_packing_slips([order_factory(1).id], by=None).id)
    Path(packing_slips_file(job)).unlink()
    with pytest.raises(NotFound, match="gone"):
        packing_slips_file(job)
    from commerce.jobs import create_job

    other = create_job("catalog_import", title="x", params={}, by=None)
    with pytest.raises(NotFound):
        packing_slips_job(other.id)


def test_orders_to_pack_are_open_and_unshipped_oldest_first(order_factory):
    first, second = order_factory(1), order_factory(1)
    second.status = "cancelled"
    assert [o.id for o in orders_to_pack()] == [first.id]
