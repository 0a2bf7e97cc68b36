"""Background work that went wrong, as staff meet it in the console: "Run again" on a job whose
worker stopped (import, packing slips, code batch), and stuck outbox consumers on an admin's
dashboard."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.catalog.csv_uploads import create_apply_job, store_upload
from commerce.catalog.models import Product
from commerce.catalog.tasks import start_import_check
from commerce.db import transaction, utcnow
from commerce.extensions import db
from commerce.jobs import FAILED, RUNNING, SUCCEEDED, Job, get_job, sweep_jobs
from commerce.outbox import STUCK_ATTEMPTS, OutboxEvent, enqueue
from tests.commerce.catalog.test_csv_import import csv_bytes
from tests.conftest import htmx_headers

FILE = csv_bytes(
    [
        {"handle": f"bag-{n}", "title": f"Bag {n}", "sku": f"B-{n}", "price": "9.00"}
        for n in range(2)
    ]
)


def text(response) -> str:
    return response.get_data(as_text=True)


def products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def worker_died(job: Job) -> None:
    """The worker running `job` was killed long ago, and the periodic sweep noticed."""
    with transaction():
        row = get_job(job.id)
        row.status, row.runs = RUNNING, 1
        row.heartbeat_at = utcnow() - timedelta(hours=1)
    assert job.id in sweep_jobs().stopped


@pytest.fixture
def dead_import(login):
    member = login("merchandiser")
    upload = store_upload(FILE, filename="bags.csv")
    assert start_import_check(upload, by=member).status == SUCCEEDED
    job = create_apply_job(upload.id, by=member)
    worker_died(job)
    return upload, job


def test_an_import_whose_worker_stopped_is_imported_again_from_its_page(client, dead_import):
    upload, job = dead_import
    page = text(client.get(f"/console/import/{upload.id}"))
    assert "The worker stopped while running this job; run it again." in page
    form = re.search(r'<form method="post" class="inline-form run-again" action="([^"]+)"', page)
    assert form and form.group(1) == f"/console/import/jobs/{job.id}/again"
    assert 'hx-confirm="Import “bags.csv” again?' in page
    assert products() == 0

    response = client.post(form.group(1))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/console/import/{upload.id}")
    assert products() == 2
    page = text(client.get(f"/console/import/{upload.id}"))
    assert "run-again" not in page and "2 created" in page
    jobs = db.session.scalars(select(Job).where(Job.kind == "catalog_import")).all()
    assert sorted(j.status for j in jobs) == [FAILED, SUCCEEDED, SUCCEEDED]

    again = client.post(form.group(1))  # a second click: refused, nothing imported twice
    assert again.status_code == 303 and products() == 2


def test_running_again_needs_the_permission_and_the_form_token(
    app, client, dead_import, make_staff, monkeypatch
):
    from tests.conftest import sign_in

    _upload, job = dead_import
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    refused = client.post(f"/console/import/jobs/{job.id}/again")
    assert refused.status_code == 400 and products() == 0

    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    other = app.test_client()
    sign_in(other, make_staff("support"))
    assert other.post(f"/console/import/jobs/{job.id}/again").status_code == 403
    assert other.post(f"/console/orders/packing-slips/{job.id}/again").status_code == 403
    assert products() == 0
    # A job is run again at its own kind's address only.
    wrong = client.post(f"/console/promotions/codes/jobs/{job.id}/again")
    assert wrong.status_code == 404 and products() == 0


def test_a_stopped_packing_slip_print_runs_again(client, login, checkout_shop):
    from commerce.documents.bulk import create_packing_slips_job
    from tests.commerce.orders.test_queries import build_order

    member = login("warehouse")
    order = build_order(checkout_shop, quantity=1)
    job = create_packing_slips_job([order.id], by=member)
    worker_died(job)
    page = text(client.get(f"/console/orders/packing-slips/{job.id}", headers=htmx_headers()))
    assert f'action="/console/orders/packing-slips/{job.id}/again"' in page
    response = client.post(f"/console/orders/packing-slips/{job.id}/again")
    assert response.status_code == 303
    fresh = db.session.scalar(select(Job).where(Job.params["again_of"].as_string() == job.id))
    assert fresh.status == SUCCEEDED and fresh.result["orders"] == [order.number]
    assert response.headers["Location"].endswith(f"/console/orders/packing-slips/{fresh.id}")


# -- the dashboard ------------------------------------------------------------------------------


def stuck_email(order_id: int = 1) -> OutboxEvent:
    with transaction():
        event = enqueue("test.dashboard", {"order_id": order_id})
        db.session.flush()
        event.attempts = STUCK_ATTEMPTS
        event.last_error = "commerce.orders.tasks.email_order_confirmation: SMTPServerDisconnected"
        event.next_attempt_at = utcnow() + timedelta(minutes=4)
    return event


@pytest.fixture
def no_backlog():
    """Events other tests left undelivered would show too: deliver them first."""
    from commerce.outbox import dispatch_pending

    dispatch_pending(limit=10_000, retry_now=True)


def test_an_admin_sees_stuck_background_work_on_the_dashboard(client, login, no_backlog):
    login("admin")
    assert 'id="background-stuck"' not in text(client.get("/console/"))  # all delivered
    stuck_email()
    page = text(client.get("/console/"))
    panel = page[page.index('id="background-stuck"') :]
    panel = panel[: panel.index("</section>")]
    assert "<code>test.dashboard</code>" in panel
    assert f'<td class="num">{STUCK_ATTEMPTS}</td>' in panel
    assert "SMTPServerDisconnected" in panel and "due" not in panel  # backing off
    assert "flask outbox dispatch --retry-now" in panel


@pytest.mark.parametrize("role", ["merchandiser", "warehouse", "support"])
def test_other_roles_do_not_see_it(client, login, role, no_backlog):
    stuck_email()
    login(role)
    assert 'id="background-stuck"' not in text(client.get("/console/"))
