"""Money exactly once across real crashes: gunicorn on PostgreSQL, the test gateway with a
latency (its memory in a file of its own, as an external service's), real HTTP shoppers.

(a) Gunicorn workers are killed with SIGKILL while several carts are being placed (some after
    the provider authorized, some before it received the call). Each shopper goes back to the
    cart and checks out again (one changes the cart first), and the old tab retries, in either
    order: one order and one charge per cart.
(b) The database goes away for several seconds (the server's connections terminated with
    pg_terminate_backend in a loop, new ones refused) while 20 shoppers place their orders,
    once half of the authorizations reached the provider. Half of the shoppers retry what
    failed; the other half close the tab. Then the recovery task runs, and: no duplicate order,
    no authorization without an order, no payment in flight, paid status follows captures,
    the stock ledger and reconcile clean, every order's confirmation email exactly once.

Charges are counted at the provider (the source of truth), not in our database.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from bench._server import (
    LiveServer,
    Shopper,
    build_flash_shop,
    run_barrier,
    stock_report,
)
from commerce.checkout.models import Checkout
from commerce.extensions import db
from commerce.inventory.services import reconcile
from commerce.orders.emails import CONFIRMATION_SENT, confirmation_key
from commerce.orders.models import AUTHORIZED, PAID, Order, OrderEvent
from commerce.payments import models as pm
from commerce.payments.services import get_provider
from tests.conftest import base_config, reset_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.faults]

IN_FLIGHT_SECONDS = 3  # how long a placement may be in flight before it is taken over
LATENCY_MS = 1000  # each provider call: half before the gateway acts, half after
APP_NAME = "faults-gunicorn"  # the server's connections, for pg_terminate_backend
BEING_PLACED = re.compile(r"already being placed", re.IGNORECASE)
EMPTY_CART = re.compile(r"cart is empty", re.IGNORECASE)


@pytest.fixture
def money_app(pg_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The test's own app on the server's database, gateway memory and mail folder (for the
    recovery task, the outbox and the checks)."""
    from flask_migrate import upgrade

    from wsgi import create_app

    allow_connections(pg_url)  # should an earlier run have died during its outage
    reset_postgres(pg_url)
    app = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=pg_url,
            PAYMENTS_TEST_GATEWAY_DB=str(tmp_path / "gateway.sqlite3"),
            PAYMENTS_IN_FLIGHT_TIMEOUT=timedelta(seconds=IN_FLIGHT_SECONDS),
            MAIL_DIR=str(tmp_path / "server" / "mail"),
            MAIL_SMTP_URL=None,
            SHOP_URL="http://shop.example",
        )
    )
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live(money_app: Flask, pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(
        database_url=f"{pg_url}?application_name={APP_NAME}",
        redis_url=redis_url,
        instance=tmp_path / "server",
        workers=2,
        threads=16,
        env={
            "PAYMENTS_TEST_GATEWAY_DB": money_app.config["PAYMENTS_TEST_GATEWAY_DB"],
            "PAYMENTS_TEST_GATEWAY_LATENCY_MS": str(LATENCY_MS),
            "PAYMENTS_IN_FLIGHT_TIMEOUT_SECONDS": str(IN_FLIGHT_SECONDS),
        },
    )
    with server:
        yield server


# -- shoppers -----------------------------------------------------------------------------------


def checkout_until_ordered(
    shopper: Shopper, email: str, *, seconds: float, gives_up: bool = False
) -> dict[str, Any]:
    """A persistent shopper: checks out, and whatever fails (an error page, no answer, "being
    placed") is tried again a moment later, as a person would, until an order page is reached.
    One who `gives_up` closes the tab at the first trouble instead. Returns the confirmation
    path (or None) and how often each kind of trouble was met."""
    seen = {"errors": 0, "waits": 0, "restarts": 0}
    deadline = time.monotonic() + seconds
    key = None
    while time.monotonic() < deadline:
        if gives_up and any(seen.values()):
            break
        if key is None:
            answer, key = shopper.start_checkout()
            if answer.status == 303 and answer.location.startswith("/orders/"):
                return {"confirmation": answer.location, **seen}  # the stuck one became it
            if key is None:
                if answer.status == 422 and EMPTY_CART.search(answer.text):
                    return {"confirmation": None, **seen}  # its order was placed meanwhile
                seen["waits" if BEING_PLACED.search(answer.text) else "errors"] += 1
                time.sleep(0.4)
                continue
            failed = False
            for step in ("information", "shipping"):
                if step == "information":
                    answer = shopper.information(key, email=email)
                else:
                    answer = shopper.shipping(key)
                if answer.status == 303 and answer.location.startswith("/orders/"):
                    return {"confirmation": answer.location, **seen}
                if answer.status != 303:
                    failed = True
                    break
            if failed:
                seen["restarts"] += 1
                key = None
                time.sleep(0.4)
                continue
        answer = shopper.place(key)
        if answer.status == 303 and answer.location.startswith("/orders/"):
            return {"confirmation": answer.location, **seen}
        if answer.status == 0 or answer.status >= 500 or answer.already_placing:
            seen["errors" if not answer.already_placing else "waits"] += 1
            time.sleep(0.4)  # the old tab, retried
            continue
        seen["restarts"] += 1  # no longer open (superseded), sold out...: from the cart again
        key = None
    return {"confirmation": None, **seen}


def checkout_until_ordered_from(
    shopper: Shopper, key: str, email: str, *, seconds: float
) -> dict[str, Any]:
    """The persistent shopper whose "Place order" failed: the old tab's retries first, then
    (if that checkout is gone) the cart again."""
    retried = checkout_again_with(shopper, key, seconds=seconds)
    if retried:
        return {"confirmation": retried, "errors": 1, "waits": 0, "restarts": 0}
    again = checkout_until_ordered(shopper, email, seconds=seconds)
    return {**again, "errors": again["errors"] + 1}


def ready_shopper(url: str, variant_id: int, email: str) -> tuple[Shopper, str]:
    shopper = Shopper(url, timeout=60)
    shopper.open()
    shopper.add_to_cart(variant_id, 1)
    answer, key = shopper.start_checkout()
    assert key, answer.describe()
    assert shopper.information(key, email=email).status == 303
    assert shopper.shipping(key).status == 303
    return shopper, key


def kill_workers(server: LiveServer) -> list[int]:
    """SIGKILL every gunicorn worker (the master, which we started, forks new ones)."""
    assert server.process is not None
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    pids = [int(pid) for pid in children]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def wait_until_serving(server: LiveServer, seconds: float = 30) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(server.url + "/cart", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not come back:\n{server.log_tail()}")


# -- what the provider and the database say -----------------------------------------------------


def by_cart() -> dict[int, dict[str, Any]]:
    """Per cart: its orders, and what the provider holds for every checkout of it."""
    db.session.expire_all()
    store = get_provider().store
    carts: dict[int, dict[str, Any]] = {}
    for checkout in db.session.scalars(select(Checkout).where(Checkout.cart_id.is_not(None))):
        entry = carts.setdefault(checkout.cart_id, {"orders": [], "authorizations": []})
        entry["orders"] += list(
            db.session.scalars(select(Order).where(Order.checkout_key == checkout.key))
        )
        entry["authorizations"] += store.authorizations(checkout.reference)
    return carts


def settle_everything(app: Flask) -> Any:
    """What production does a moment later: the recovery task, then the outbox."""
    from commerce.checkout.recovery import recover_payments
    from commerce.outbox import dispatch_pending

    time.sleep(IN_FLIGHT_SECONDS + 0.5)  # everything left behind is older than the timeout
    report = recover_payments()
    dispatch_pending()
    return report


def check_money(app: Flask) -> dict[str, int]:
    """The invariants after a fault, with counts for the report."""
    carts = by_cart()
    orders = [order for entry in carts.values() for order in entry["orders"]]
    duplicates = sum(max(len(entry["orders"]) - 1, 0) for entry in carts.values())
    assert duplicates == 0, {cart: len(e["orders"]) for cart, e in carts.items()}
    charges = 0
    for cart_id, entry in carts.items():
        held = [a for a in entry["authorizations"] if a["status"] in ("authorized", "captured")]
        charges += len(held)
        assert len(held) == len(entry["orders"]), (cart_id, held)  # no money without an order
        for order in entry["orders"]:
            assert order.payment_status == PAID, order.name  # captured at placement
            [auth] = held
            assert auth["status"] == "captured" and auth["captured"] == order.total
    in_flight = db.session.scalar(
        select(func.count(pm.Payment.id)).where(
            pm.Payment.status.in_((pm.PENDING, pm.CAPTURING, pm.VOIDING))
        )
    )
    assert in_flight == 0
    used = select(Order.payment_id).where(Order.payment_id.is_not(None))
    loose = db.session.scalar(
        select(func.count(pm.Payment.id)).where(
            pm.Payment.status == pm.AUTHORIZED, pm.Payment.id.not_in(used)
        )
    )
    assert loose == 0
    unpaid = db.session.scalar(
        select(func.count(Order.id))
        .join(pm.Payment, pm.Payment.id == Order.payment_id)
        .where(Order.payment_status == AUTHORIZED, pm.Payment.status == pm.CAPTURED)
    )
    assert unpaid == 0
    assert reconcile() == []
    emails = 0
    folder = Path(app.config["MAIL_DIR"])
    for order in orders:
        sent = db.session.scalar(
            select(func.count(OrderEvent.id)).where(
                OrderEvent.order_id == order.id, OrderEvent.kind == CONFIRMATION_SENT
            )
        )
        files = list(folder.glob(f"*-{confirmation_key(order)}.eml"))
        assert (sent, len(files)) == (1, 1), order.name
        emails += 1
    voided = sum(1 for e in carts.values() for a in e["authorizations"] if a["status"] == "voided")
    return {
        "orders": len(orders),
        "duplicate_orders": duplicates,
        "charges": charges,
        "voided": voided,
        "emails": emails,
    }


# -- the faults ---------------------------------------------------------------------------------

CARTS = 4


def test_killed_workers_during_place_order_leave_one_order_and_one_charge_per_cart(
    money_app, live, fault_report
):
    shop = build_flash_shop(units=50)
    ready = [
        ready_shopper(live.url, shop.variant_id, f"killed{i}@example.com") for i in range(CARTS)
    ]
    answers: list[Any] = [None] * CARTS

    def place(i: int) -> None:
        shopper, key = ready[i]
        if i % 2:
            time.sleep(0.55)  # the second half reaches the provider later: killed before it acts
        answers[i] = shopper.clone().place(key)

    threads = [threading.Thread(target=place, args=(i,), daemon=True) for i in range(CARTS)]
    for thread in threads:
        thread.start()
    time.sleep(0.85)
    authorized_before = sum(
        1
        for shopper, key in ready
        for a in get_provider().store.authorizations(f"checkout:{key}")
        if a["status"] == "authorized"
    )
    killed = kill_workers(live)
    for thread in threads:
        thread.join(60)
    lost = sum(1 for answer in answers if answer is not None and answer.status in (0, 502))
    wait_until_serving(live)

    def come_back(i: int, barrier: threading.Barrier) -> dict[str, Any]:
        shopper, old_key = ready[i]
        barrier.wait()
        old_tab = shopper.clone()
        if i == 0:  # this one changes the cart first: the stuck checkout is superseded
            shopper.add_to_cart(shop.variant_id, 1)
        if i % 2:  # the old tab first, then the cart
            retried = checkout_again_with(old_tab, old_key)
            again = checkout_until_ordered(shopper, f"killed{i}@example.com", seconds=25)
        else:  # the cart first, then the old tab
            again = checkout_until_ordered(shopper, f"killed{i}@example.com", seconds=25)
            retried = checkout_again_with(old_tab, old_key)
        return {"again": again, "old_tab": retried}

    results = run_barrier(list(range(CARTS)), come_back, timeout=90)
    crashed = [repr(r) for r in results if isinstance(r, BaseException)]
    assert crashed == []
    for result in results:
        confirmations = {result["again"]["confirmation"], result["old_tab"]} - {None}
        assert len(confirmations) == 1, result  # both tabs lead to the one order
    report = settle_everything(money_app)
    counts = check_money(money_app)
    assert counts["orders"] == CARTS  # every shopper ends with their order
    assert counts["charges"] == CARTS
    stock = stock_report(shop.variant_id)
    assert (stock.ledger_mismatches, stock.counter_mismatches) == ([], [])
    assert stock.units_ordered == CARTS + 1  # cart 0 grew by one unit
    fault_report(
        carts=CARTS,
        killed_workers=len(killed),
        answers_lost=lost,
        authorized_before_kill=authorized_before,
        recovered_orders=report.orders_placed,
        recovery_voided=report.payments_voided,
        **counts,
    )


def checkout_again_with(tab: Shopper, key: str, *, seconds: float = 25) -> str | None:
    """The old tab's retry of "Place order": its order, or None when the checkout was
    superseded (answered 409 once the new checkout settled it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = tab.place(key)
        if answer.status == 303 and answer.location.startswith("/orders/"):
            return answer.location
        if answer.already_placing or answer.status == 0 or answer.status >= 500:
            time.sleep(0.4)
            continue
        return None
    return None


SHOPPERS = 20
OUTAGE_SECONDS = 5.0


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def allow_connections(url: str) -> None:
    import psycopg

    with psycopg.connect(_plain(url), dbname="postgres", autocommit=True) as conn:
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def database_outage(url: str, stop: threading.Event, killed: list[int]) -> None:
    """The database goes away: new connections are refused and every connection of the server
    is terminated (pg_terminate_backend), again and again, until `stop`."""
    import psycopg

    with psycopg.connect(_plain(url), autocommit=True) as probe:
        name = probe.info.dbname
    # From the maintenance database: a database cannot refuse the connection asking it to.
    with psycopg.connect(_plain(url), dbname="postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = %s",
                    (name, APP_NAME),
                ).fetchall()
                killed[0] += sum(1 for (done,) in rows if done)
                time.sleep(0.02)
        finally:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_database_connections_terminated_during_checkout_leave_money_settled(
    money_app, live, pg_url, fault_report
):
    shop = build_flash_shop(units=100)

    def get_ready(i: int, barrier: threading.Barrier) -> tuple[Shopper, str]:
        barrier.wait()
        return ready_shopper(live.url, shop.variant_id, f"outage{i}@example.com")

    ready = run_barrier(list(range(SHOPPERS)), get_ready, timeout=60)
    assert [r for r in ready if isinstance(r, BaseException)] == []
    stop = threading.Event()
    terminated = [0]
    store = get_provider().store

    def outage_while_the_provider_answers() -> None:
        """The database goes away once half of the authorizations reached the provider: their
        answers come back to a database that is gone."""
        deadline = time.monotonic() + 10
        while len(store.authorizations()) < SHOPPERS // 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        threading.Timer(OUTAGE_SECONDS, stop.set).start()
        database_outage(pg_url, stop, terminated)

    cutter = threading.Thread(target=outage_while_the_provider_answers, daemon=True)
    cutter.start()

    def place(i: int, barrier: threading.Barrier) -> dict[str, Any]:
        shopper, key = ready[i]
        barrier.wait()
        answer = shopper.place(key)
        if answer.status == 303 and answer.location.startswith("/orders/"):
            return {"confirmation": answer.location, "errors": 0, "waits": 0, "restarts": 0}
        # Half of them close the tab at this error page: what they leave, the recovery task
        # settles (into their order, or the money voided). The others try again (the old tab).
        if i % 2:
            return {"confirmation": None, "errors": 1, "waits": 0, "restarts": 0}
        time.sleep(0.4)
        return checkout_until_ordered_from(shopper, key, f"outage{i}@example.com", seconds=40)

    try:
        results = run_barrier(list(range(SHOPPERS)), place, timeout=120)
    finally:
        stop.set()
    cutter.join(30)
    crashed = [repr(r) for r in results if isinstance(r, BaseException)]
    assert crashed == []
    assert terminated[0] > 0  # the fault happened
    report = settle_everything(money_app)
    counts = check_money(money_app)
    persistent = [r for i, r in enumerate(results) if i % 2 == 0]
    assert all(r["confirmation"] for r in persistent)  # each persistent shopper got an order
    ordered = sum(1 for r in results if r["confirmation"])
    assert ordered <= counts["orders"] <= SHOPPERS  # the recovery may place a quitter's order
    stock = stock_report(shop.variant_id)
    assert (stock.ledger_mismatches, stock.counter_mismatches) == ([], [])
    assert stock.units_ordered == counts["orders"]
    fault_report(
        shoppers=SHOPPERS,
        gave_up=sum(1 for r in results if not r["confirmation"]),
        connections_terminated=terminated[0],
        errors_seen=sum(r["errors"] for r in results),
        waits_seen=sum(r["waits"] for r in results),
        recovery_calls_settled=report.calls_settled,
        recovered_orders=report.orders_placed,
        recovery_voided=report.payments_voided,
        recovery_captured=report.captured + report.paid_status_fixed,
        **counts,
    )
