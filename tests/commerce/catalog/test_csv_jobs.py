"""Uploads and the import jobs: stored files, the check-then-import rule, and the Celery task
run with nothing but a job id and a path (as a real worker runs it)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.catalog.csv_uploads import create_check_job, import_jobs, store_upload
from commerce.catalog.models import Product
from commerce.catalog.tasks import import_csv, start_import, start_import_check
from commerce.errors import Conflict, NotFound, ValidationError
from commerce.extensions import db
from commerce.jobs import get_job
from tests.commerce.catalog.test_csv_import import csv_bytes

GOOD = csv_bytes([{"handle": "tote", "title": "Tote", "sku": "TOTE", "price": "12.00"}])


def products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def test_upload_is_stored_under_the_import_root(app):
    upload = store_upload(GOOD, filename="C:\\Users\\me\\catalog.csv")
    assert upload.filename == "catalog.csv"
    assert upload.path.parent.as_posix() == app.config["IMPORT_ROOT"]
    assert upload.path.read_bytes() == GOOD


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (GOOD, "catalog.xlsx", "is not a .csv file"),
        (b"  \n", "catalog.csv", "is empty"),
        (b"handle,title\nx,\xff\xfe\n", "catalog.csv", "is not UTF-8 text (line 2)"),
        (b"sku;price\nA;1\n", "catalog.csv", "column names"),
    ],
)
def test_unusable_uploads_are_refused_on_the_file_field(data, name, message):
    with pytest.raises(ValidationError) as caught:
        store_upload(data, filename=name)
    assert caught.value.field == "file" and message in caught.value.message


def test_check_then_import(make_staff):
    staff = make_staff("merchandiser")
    upload = store_upload(GOOD, filename="catalog.csv")
    check = start_import_check(upload, by=staff)
    assert (check.status, check.result["ok"], check.result["products_created"]) == (
        "succeeded",
        True,
        1,
    )
    assert products() == 0
    applied = start_import(upload.id, by=staff)
    assert applied.status == "succeeded" and products() == 1
    assert import_jobs(upload.id) == (check, applied)
    with pytest.raises(Conflict):
        start_import(upload.id, by=staff)


def test_a_file_with_errors_cannot_be_imported(make_staff):
    staff = make_staff("merchandiser")
    bad = csv_bytes([{"handle": "tote", "title": "Tote", "price": "-1"}])
    upload = store_upload(bad, filename="bad.csv")
    check = start_import_check(upload, by=staff)
    assert check.status == "failed" and check.result["error_count"] == 1
    assert check.message == "1 row has errors; nothing was imported."
    with pytest.raises(ValidationError):
        start_import(upload.id, by=staff)
    assert products() == 0


def test_a_file_changed_after_its_check_is_refused(make_staff):
    staff = make_staff("merchandiser")
    upload = store_upload(GOOD, filename="catalog.csv")
    start_import_check(upload, by=staff)
    upload.path.write_bytes(GOOD.replace(b"12.00", b"1.00"))
    with pytest.raises(Conflict):
        start_import(upload.id, by=staff)
    assert products() == 0


def test_unknown_uploads_are_not_found():
    with pytest.raises(NotFound):
        import_jobs("0" * 32)
    with pytest.raises(NotFound):
        import_jobs("../../etc/passwd")


def test_the_task_needs_only_the_job_id_and_the_path(make_staff):
    """What a real worker receives: two strings; the job row carries everything else."""
    staff = make_staff("merchandiser")
    upload = store_upload(GOOD, filename="catalog.csv")
    job = create_check_job(upload, by=staff)
    import_csv.run(job.id, str(upload.path))
    db.session.expire_all()
    finished = get_job(job.id)
    assert finished.status == "succeeded" and finished.result["products_created"] == 1
    assert finished.finished_at is not None and products() == 0


@pytest.mark.redis
def test_a_real_worker_checks_and_imports(app, tmp_path):
    """The production leg: a Celery worker on Redis, its own database, real commits."""
    import time

    from celery.contrib.testing.worker import start_worker

    from commerce.extensions import init_celery
    from tests.conftest import base_config, require_service
    from wsgi import create_app

    redis_url = require_service("Redis", "TEST_REDIS_URL")
    worker_app = create_app(
        base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'worker.db'}")
    )
    worker_app.config["CELERY"].update(
        broker_url=redis_url, task_always_eager=False, task_ignore_result=True
    )
    celery = init_celery(worker_app)

    def finished(job_id: str):
        for _ in range(300):
            db.session.rollback()  # a fresh read: see what the worker committed
            job = get_job(job_id)
            if job.finished:
                return job
            time.sleep(0.1)
        raise AssertionError("the job did not finish")

    with worker_app.app_context():
        db.create_all()
        upload = store_upload(GOOD, filename="catalog.csv")
        with start_worker(celery, perform_ping_check=False, pool="solo", loglevel="WARNING"):
            check = finished(start_import_check(upload, by=None).id)
            assert check.status == "succeeded" and products() == 0
            applied = finished(start_import(upload.id, by=None).id)
            assert applied.status == "succeeded", applied.message
        assert products() == 1
        db.session.remove()
