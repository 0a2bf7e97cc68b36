"""The embedded default (one SQLite file, WAL) with several writers at once: two staff saving
at the same moment, a bulk price change or a CSV import running beside a save, and a save that
cannot get its turn. Real threads, each with its own signed-in client, its own app context and
its own connection to one database file, through the console's HTTP forms; the app runs with
TESTING off, so an error is the page a browser would get, not an exception in the test.

What must hold: no 5xx and no "database is locked"; every write lands, or (when another writer
holds the database longer than a save waits) the save answers a clean message and writes
nothing. Counts, never timings.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.catalog.models import Product, Variant
from commerce.db import BUSY_MESSAGE
from commerce.extensions import db
from commerce.money import scale_amount
from commerce.staff.models import StaffMember
from tests.commerce.catalog.test_csv_import import csv_bytes
from tests.conftest import FAST_HASH, TEST_PASSWORD, RequestScopedClient, base_config

PRODUCTS = 60
ROUNDS = 6
THREAD_TIMEOUT = 120


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file with the embedded mode's schema (`flask db upgrade`), copied per test."""
    from flask_migrate import upgrade

    from wsgi import create_app

    folder = tmp_path_factory.mktemp("migrated")
    app = create_app(base_config(folder))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return folder / "test.db"


def _sqlite_app(tmp_path: Any, migrated: Path, **extra: Any) -> Flask:
    from wsgi import create_app

    shutil.copyfile(migrated, tmp_path / "test.db")
    app = create_app(base_config(tmp_path, TESTING=False, **extra))
    app.test_client_class = RequestScopedClient
    return app


def _seed(app: Flask, staff: int) -> SimpleNamespace:
    from commerce.catalog.services import create_product

    with app.app_context():
        emails = []
        for i in range(staff):
            member = StaffMember(
                email=f"staff{i}@example.com",
                name=f"Staff {i}",
                role="admin",
                password_hash=FAST_HASH,
                is_active=True,
            )
            db.session.add(member)
            emails.append(member.email)
        db.session.commit()
        ids = [
            create_product(
                title=f"Product {n}", price=1000 + n, sku=f"SKU-{n}", status="active", by=None
            ).id
            for n in range(PRODUCTS)
        ]
        db.session.remove()
    clients = []
    for email in emails:
        client = app.test_client()
        signed_in = client.post("/console/login", data={"email": email, "password": TEST_PASSWORD})
        assert signed_in.status_code == 303, signed_in.get_data(as_text=True)[:300]
        clients.append(client)
    return SimpleNamespace(clients=clients, product_ids=ids)


@pytest.fixture
def embedded(tmp_path: Any, migrated: Path) -> Iterator[tuple[Flask, SimpleNamespace]]:
    app = _sqlite_app(tmp_path, migrated)
    yield app, _seed(app, staff=2)
    with app.app_context():
        db.engine.dispose()


def save_form(title: str) -> dict[str, str]:
    return {"title": title, "status": "active", "description": "", "vendor": "", "tags": ""}


def save(client: Any, product_id: int, title: str) -> tuple[int, str]:
    response = client.post(f"/console/products/{product_id}", data=save_form(title))
    return response.status_code, response.get_data(as_text=True)


def run_threads(*targets: Any) -> None:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a writer hung"


def titles(app: Flask, ids: list[int]) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(select(Product.id, Product.title).where(Product.id.in_(ids)))
        found = dict(rows.all())
        db.session.remove()
    return found


def audit_count(app: Flask, action: str) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        )
        db.session.remove()
    return count


def no_lock_errors(answers: list[tuple[int, str]]) -> None:
    statuses = Counter(status for status, _ in answers)
    assert not [s for s in statuses if s >= 500], statuses
    assert not [text for _, text in answers if "database is locked" in text]


def test_two_staff_saving_at_once_both_land(embedded):
    app, shop = embedded
    first, second = shop.product_ids[:2]
    barrier = threading.Barrier(2)
    answers: list[tuple[int, str]] = []

    def saver(client: Any, product_id: int, name: str) -> Any:
        def run() -> None:
            for n in range(ROUNDS):
                barrier.wait(timeout=THREAD_TIMEOUT)  # every round starts together
                answers.append(save(client, product_id, f"{name} {n}"))

        return run

    run_threads(saver(shop.clients[0], first, "First"), saver(shop.clients[1], second, "Second"))
    no_lock_errors(answers)
    assert Counter(status for status, _ in answers) == {303: 2 * ROUNDS}
    last = ROUNDS - 1
    assert titles(app, [first, second]) == {first: f"First {last}", second: f"Second {last}"}
    assert audit_count(app, "product.update") == 2 * ROUNDS  # every save is in the audit log


def test_a_bulk_price_change_beside_saves(embedded):
    app, shop = embedded
    bulk_client, save_client = shop.clients
    edited = shop.product_ids[0]
    with app.app_context():
        before = dict(db.session.execute(select(Variant.product_id, Variant.price)).all())
        db.session.remove()
    bulk_done = threading.Event()
    started = threading.Barrier(2)
    bulk_answers: list[tuple[int, str]] = []
    saves: list[tuple[int, str]] = []
    during_bulk = 0

    def bulk() -> None:
        started.wait(timeout=THREAD_TIMEOUT)
        response = bulk_client.post(
            "/console/products/bulk",
            data={
                "action": "change_price",
                "price_mode": "percent",
                "price_value": "10",
                "ids": [str(i) for i in shop.product_ids],
                "confirmed": "1",  # past the confirmation (which writes nothing)
            },
        )
        bulk_answers.append((response.status_code, response.get_data(as_text=True)))
        bulk_done.set()

    def saver() -> None:
        nonlocal during_bulk
        started.wait(timeout=THREAD_TIMEOUT)
        n = 0
        while not bulk_done.is_set() or n < 2:
            overlapping = not bulk_done.is_set()
            saves.append(save(save_client, edited, f"Edited {n}"))
            during_bulk += overlapping
            n += 1

    run_threads(bulk, saver)
    no_lock_errors(bulk_answers + saves)
    assert [status for status, _ in bulk_answers] == [303]
    assert {status for status, _ in saves} == {303}
    assert during_bulk >= 1  # a save was sent while the bulk change ran
    assert titles(app, [edited]) == {edited: f"Edited {len(saves) - 1}"}
    with app.app_context():
        after = dict(db.session.execute(select(Variant.product_id, Variant.price)).all())
        db.session.remove()
    expected = {pid: scale_amount(price, percent=Decimal(10)) for pid, price in before.items()}
    assert after == expected  # the bulk change landed on every product, the saves with it


def test_a_csv_import_beside_a_save(embedded):
    app, shop = embedded
    importer, save_client = shop.clients
    rows = [
        {"handle": f"import-{n}", "title": f"Imported {n}", "sku": f"IMP-{n}", "price": "12.00"}
        for n in range(PRODUCTS)
    ]
    uploaded = importer.post(
        "/console/import",
        data={"file": (io.BytesIO(csv_bytes(rows)), "catalog.csv")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303, uploaded.get_data(as_text=True)[:400]
    url = uploaded.headers["Location"]
    edited = shop.product_ids[0]
    import_done = threading.Event()
    started = threading.Barrier(2)
    answers: list[tuple[int, str]] = []
    saves: list[tuple[int, str]] = []

    def run_import() -> None:
        started.wait(timeout=THREAD_TIMEOUT)
        response = importer.post(url + "/apply")
        answers.append((response.status_code, response.get_data(as_text=True)))
        import_done.set()

    def saver() -> None:
        started.wait(timeout=THREAD_TIMEOUT)
        n = 0
        while not import_done.is_set() or n < 2:
            saves.append(save(save_client, edited, f"Saved {n}"))
            n += 1

    run_threads(run_import, saver)
    no_lock_errors(answers + saves)
    assert [status for status, _ in answers] == [303]
    assert {status for status, _ in saves} == {303}
    assert titles(app, [edited]) == {edited: f"Saved {len(saves) - 1}"}
    with app.app_context():
        imported = db.session.scalar(
            select(func.count()).select_from(Product).where(Product.handle.like("import-%"))
        )
        db.session.remove()
    assert imported == PRODUCTS


def test_a_save_that_cannot_get_its_turn_says_so_and_writes_nothing(tmp_path, migrated, caplog):
    """Another process holds the database's write lock (a long import on a worker, say) past
    the busy timeout: the save answers a clean message with the form, writes nothing, and the
    next try after the lock is released lands. Shop pages and searches meanwhile answer as
    usual: readers never wait for the writer."""
    app = _sqlite_app(tmp_path, migrated, SQLITE_BUSY_TIMEOUT=0.2)
    shop = _seed(app, staff=1)
    client, product_id = shop.clients[0], shop.product_ids[0]
    shopper = app.test_client()
    assert shopper.get("/search?q=product").status_code == 200  # takes in the new products
    caplog.clear()
    holder = sqlite3.connect(str(tmp_path / "test.db"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        for path in ("/", "/products/product-0", "/search?q=product", "/cart"):
            assert shopper.get(path).status_code == 200, path
        assert "could not take in waiting catalog changes" not in caplog.text
        status, text = save(client, product_id, "Blocked")
        assert status == 422  # the form again, with what the staff member typed
        assert BUSY_MESSAGE.split(":")[0] in text.replace("&#39;", "'")
        assert "database is locked" not in text
        assert 'value="Blocked"' in text
        fragment = client.post(
            f"/console/variants/{_variant(app, product_id)}/cells/price",
            data={"value": "99.00"},
            headers={"HX-Request": "true"},
        )
        assert fragment.status_code < 500
        assert "database is locked" not in fragment.get_data(as_text=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert titles(app, [product_id]) == {product_id: "Product 0"}
    assert audit_count(app, "product.update") == 0
    assert save(client, product_id, "Unblocked")[0] == 303
    assert titles(app, [product_id]) == {product_id: "Unblocked"}
    with app.app_context():
        db.engine.dispose()


def _variant(app: Flask, product_id: int) -> int:
    with app.app_context():
        found = db.session.scalar(select(Variant.id).where(Variant.product_id == product_id))
        db.session.remove()
    return found
