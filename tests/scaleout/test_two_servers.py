"""Two app servers behind HAProxy (round robin, no sticky sessions), sharing PostgreSQL and
Redis: whichever server answers, a shopper's cart, session, sign-in and checkout work, staff
sign in and save in the console, limits count once for the whole shop, uploaded files are
found, and a flash sale oversells nothing. A graceful reload (HUP) and a server that stops
cost no request. Consecutive requests of one client go to alternate servers, which each test
checks through HAProxy's X-Served-By header; counts, never timings.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from bench._balancer import ScaledOut, track_servers
from bench._server import (
    ERROR_5XX,
    ERROR_OTHER,
    ORDER,
    SOLD_OUT_ANSWER,
    Journey,
    Shopper,
    build_flash_shop,
    check_out,
    run_barrier,
    stock_report,
)
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD
from tests.scaleout.conftest import csrf_token, make_customer, make_staff, unique_sku

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# Both servers: a low place-order limit, to see it counted across them.
SCALED_OUT_ENV = {"CHECKOUT_RATE_LIMIT": "3 per minute"}
BOTH = {"app1", "app2"}
DECLINED = {"card_number": "4000000000000002", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
ASKS_THE_BANK = {
    "card_number": "4000000000003220",
    "exp_month": "12",
    "exp_year": "2030",
    "cvc": "123",
}


def alternating(served: list[str]) -> bool:
    """Both servers answered, and never the same one twice in a row."""
    return set(served) == BOTH and all(a != b for a, b in pairwise(served))


def staff_session(base_url: str, member: Any) -> tuple[requests.Session, list[str]]:
    http = requests.Session()
    served = track_servers(http)
    page = http.get(base_url + "/console/login")
    token = csrf_token(page.text)
    signed_in = http.post(
        base_url + "/console/login",
        data={"email": member.email, "password": TEST_PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text[:300]
    return http, served


def product_form(title: str, token: str) -> dict[str, str]:
    return {"title": title, "status": "active", "vendor": "", "tags": "", "csrf_token": token}


def as_far_as_payment(shopper: Shopper, variant_id: int, email: str) -> str:
    shopper.open()
    shopper.add_to_cart(variant_id, 1)
    answer, key = shopper.start_checkout()
    assert key, answer.describe()
    assert shopper.information(key, email=email).status == 303
    assert shopper.shipping(key).status == 303
    return key


# -- health and balancing -----------------------------------------------------------------------


def test_health_checks_pass_and_requests_alternate(scaled_out: ScaledOut):
    assert scaled_out.balancer.states() == {"app1": "UP", "app2": "UP"}
    http = requests.Session()
    served = track_servers(http)
    for _ in range(4):
        health = http.get(scaled_out.url + "/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok"}
        assert "Set-Cookie" not in health.headers  # no session for the balancer's checks
        assert health.headers["Cache-Control"] == "no-store"
    for _ in range(4):
        assert http.get(scaled_out.url + "/").status_code == 200
    assert alternating(served), served
    for server in scaled_out.servers:  # each server's own access log has its share
        wait_until(
            lambda s=server: sum('"GET / HTTP' in line for line in s.access_log_lines()) >= 2,
            f"{server.name} logged its two requests",
        )


# -- shoppers -----------------------------------------------------------------------------------


def test_a_shopper_signs_in_and_checks_out_whichever_server_answers(scaled_out, shop_app):
    from commerce.orders.models import Order

    shop = build_flash_shop(units=5, sku=unique_sku("CART"))
    customer = make_customer()
    email, customer_id = customer.email, customer.id
    shopper = Shopper(scaled_out.url)
    served = track_servers(shopper.http)

    shopper.open()  # session and CSRF token from one server...
    shopper.add_to_cart(shop.variant_id, 2)  # ...accepted by the other
    cart = shopper.get("/cart")
    assert cart.status == 200 and "Flash sale sneaker" in cart.text
    signed_in = shopper.post("/account/login", {"email": email, "password": TEST_PASSWORD})
    assert signed_in.status == 303, signed_in.describe()
    account = shopper.get("/account")
    assert account.status == 200 and email in account.text
    shopper.open()  # signing in gave the session a new CSRF token
    journey = check_out(shopper, email=email)
    assert journey.outcome == ORDER, journey.failure and journey.failure.describe()
    assert shopper.get(journey.confirmation).status == 200
    shopper.close()

    assert alternating(served), served
    order = db.session.scalar(select(Order).where(Order.email == email))
    assert order.customer_id == customer_id  # the sign-in carried through checkout
    assert [line.quantity for line in order.lines] == [2]  # the guest cart was adopted
    assert scaled_out.tracebacks() == {}


def test_a_card_confirmed_with_the_bank_on_the_other_server(scaled_out, shop_app):
    """The test gateway stands for an outside provider: the authorization made by one server
    is confirmed through the other (its memory is shared, as a provider's would be)."""
    shop = build_flash_shop(units=2, sku=unique_sku("3DS"))
    captured = stock_report(shop.variant_id).captured
    shopper = Shopper(scaled_out.url)
    served = track_servers(shopper.http)
    key = as_far_as_payment(shopper, shop.variant_id, "bank@scale.example")
    placed = shopper.place(key, ASKS_THE_BANK)
    assert placed.status == 303 and placed.location.endswith("/authenticate"), placed.describe()
    authorized_by = served[-1]
    for _ in range(2):  # the bank's page twice, so the confirmation goes to the other server
        assert shopper.get(placed.location).status == 200
    approved = shopper.post(placed.location, {"decision": "approve"})
    assert served[-1] != authorized_by
    assert approved.status == 303 and approved.location.startswith("/orders/"), approved.describe()
    assert alternating(served), served
    report = stock_report(shop.variant_id)
    assert (report.units_ordered, report.captured - captured) == (1, 1)


def test_the_place_order_limit_counts_on_both_servers(scaled_out, shop_app):
    """CHECKOUT_RATE_LIMIT is 3 per minute here: the fourth try is refused, though the tries
    went to both servers (the counters are in the shared Redis)."""
    shop = build_flash_shop(units=2, sku=unique_sku("LIMIT"))
    shopper = Shopper(scaled_out.url)
    key = as_far_as_payment(shopper, shop.variant_id, "declined@scale.example")
    served = track_servers(shopper.http)
    tries = [shopper.place(key, DECLINED).status for _ in range(4)]
    assert tries == [402, 402, 402, 429]
    assert alternating(served), served


# -- staff and files ----------------------------------------------------------------------------


def test_staff_sign_in_and_save_in_the_console_across_servers(scaled_out, shop_app):
    from commerce.audit import AuditEntry
    from commerce.catalog.services import create_product

    member = make_staff("merchandiser")
    product = create_product(
        title="Field Jacket", price=9900, sku=unique_sku("JACKET"), status="active", by=None
    )
    db.session.commit()
    product_id, handle, member_id = product.id, product.handle, member.id
    http, served = staff_session(scaled_out.url, member)

    editor = http.get(f"{scaled_out.url}/console/products/{product_id}")
    assert editor.status_code == 200 and "Field Jacket" in editor.text
    saved = http.post(
        f"{scaled_out.url}/console/products/{product_id}",
        data=product_form("Waxed Field Jacket", csrf_token(editor.text)),
        allow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:300]
    again = http.get(f"{scaled_out.url}/console/products/{product_id}")
    assert again.status_code == 200 and "Waxed Field Jacket" in again.text
    assert alternating(served), served

    shop_pages = requests.Session()
    shown = track_servers(shop_pages)
    for _ in range(2):  # each server renders the saved title (no copy kept per process)
        page = shop_pages.get(f"{scaled_out.url}/products/{handle}")
        assert page.status_code == 200 and "Waxed Field Jacket" in page.text
    assert set(shown) == BOTH
    entry = db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "product.update", AuditEntry.subject_id == str(product_id)
        )
    )
    assert entry.actor_id == member_id


def test_uploads_made_on_one_server_are_found_by_the_other(scaled_out, shop_app):
    """Product images and CSV uploads live in shared storage (MEDIA_ROOT, IMPORT_ROOT): an
    image uploaded through app1 is served by app2, and a file uploaded to app1 is imported
    by a request to app2."""
    from PIL import Image

    from commerce.catalog.models import Media, Product
    from commerce.catalog.services import create_product
    from tests.commerce.catalog.test_csv_import import csv_bytes

    member = make_staff("merchandiser")
    product = create_product(title="Canvas Tote", price=1500, sku=unique_sku("TOTE"), by=None)
    db.session.commit()
    product_id = product.id
    app1, app2 = (scaled_out.server(name).url for name in ("app1", "app2"))
    http, _ = staff_session(app1, member)

    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(png, format="PNG")
    editor = http.get(f"{app1}/console/products/{product_id}")
    uploaded = http.post(
        f"{app1}/console/products/{product_id}/media",
        data={"csrf_token": csrf_token(editor.text), "alt": "Tote"},
        files={"image": ("tote.png", png.getvalue(), "image/png")},
        allow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text[:300]
    path = db.session.scalar(select(Media.path).where(Media.product_id == product_id))
    image = requests.get(f"{app2}/media/{path}")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"

    rows = [
        {"handle": f"shared-{n}", "title": f"Shared {n}", "sku": unique_sku("CSV"), "price": "9.00"}
        for n in range(3)
    ]
    page = http.get(f"{app1}/console/import")
    sent = http.post(
        f"{app1}/console/import",
        data={"csrf_token": csrf_token(page.text)},
        files={"file": ("catalog.csv", csv_bytes(rows), "text/csv")},
        allow_redirects=False,
    )
    assert sent.status_code == 303, sent.text[:300]
    checked = http.get(app2 + sent.headers["Location"])  # the check ran; app2 shows it
    assert checked.status_code == 200 and "Import 3 products" in checked.text
    applied = http.post(
        app2 + sent.headers["Location"] + "/apply",
        data={"csrf_token": csrf_token(checked.text)},
        allow_redirects=False,
    )
    assert applied.status_code == 303, applied.text[:300]
    imported = db.session.scalar(
        select(func.count()).select_from(Product).where(Product.handle.like("shared-%"))
    )
    assert imported == 3


# -- the flash sale -----------------------------------------------------------------------------

SHOPPERS = 100
UNITS = 25


def test_a_flash_sale_through_the_balancer_oversells_nothing(scaled_out, shop_app):
    shop = build_flash_shop(units=UNITS, sku=unique_sku("FLASH"))
    before = stock_report(shop.variant_id)
    shoppers = [Shopper(scaled_out.url) for _ in range(SHOPPERS)]
    served: list[list[str]] = [track_servers(s.http) for s in shoppers]

    def fill_cart(shopper: Shopper) -> None:
        shopper.open()
        shopper.add_to_cart(shop.variant_id, 1)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(fill_cart, shoppers))

    def race(numbered: tuple[int, Shopper], barrier: threading.Barrier) -> Journey:
        n, shopper = numbered
        return check_out(shopper, email=f"flash{n}@scale.example", before=barrier)

    journeys = run_barrier(list(enumerate(shoppers)), race)
    for shopper in shoppers:
        shopper.close()

    assert [repr(j) for j in journeys if isinstance(j, BaseException)] == []
    outcomes = Counter(j.outcome for j in journeys)
    failures = [j.failure.describe() for j in journeys if j.outcome in (ERROR_5XX, ERROR_OTHER)]
    assert failures == [], f"{outcomes}\n{failures[:5]}"
    assert outcomes == {ORDER: UNITS, SOLD_OUT_ANSWER: SHOPPERS - UNITS}
    assert Counter(name for names in served for name in names).keys() == BOTH
    assert scaled_out.tracebacks() == {}
    assert not [a for a in scaled_out.balancer.answers() if a[1] >= 500]

    report = stock_report(shop.variant_id)
    assert report.units_ordered == UNITS
    assert report.captured - before.captured == UNITS
    assert (report.on_hand, report.allocated, report.reserved, report.available) == (
        UNITS,
        UNITS,
        0,
        0,
    )
    assert report.negative_levels == 0
    assert report.active_reservations == 0
    assert report.ledger_mismatches == []
    assert report.counter_mismatches == []


# -- reloads and stops --------------------------------------------------------------------------


class Traffic:
    """Shoppers browsing through the balancer on their own threads until stopped; every
    answer that is not a 2xx/3xx (or no answer) is kept."""

    def __init__(self, base_url: str, *, clients: int = 4) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.browse, daemon=True) for _ in range(clients)]

    def browse(self) -> None:
        http = requests.Session()
        served = track_servers(http)
        while not self.stop.is_set():
            for path in ("/", "/cart", "/healthz"):
                try:
                    status = http.get(self.base_url + path, timeout=30).status_code
                except requests.RequestException as exc:
                    self.failures.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                if status >= 400:
                    self.failures.append(f"{path}: {status}")
                if served:
                    self.answers[served[-1]] += 1
        http.close()

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def wait_for(self, answers: int, server: str) -> None:
        """Until `server` has answered `answers` more requests (bounded)."""
        wanted = self.answers[server] + answers
        for _ in range(600):
            if self.answers[server] >= wanted or self.stop.wait(0.05):
                return
        raise AssertionError(f"{server} answered {self.answers[server]} of {wanted}")


def wait_until(condition: Any, what: str, tries: int = 600) -> None:
    for _ in range(tries):
        if condition():
            return
        threading.Event().wait(0.1)
    raise AssertionError(f"never happened: {what}")


def test_a_graceful_reload_loses_no_request(scaled_out: ScaledOut):
    """HUP to one server's master (a deploy) while shoppers browse: new workers take over,
    the old ones finish what they answer, and nobody gets an error."""
    server = scaled_out.server("app1")
    old_workers = server.worker_pids()
    with Traffic(scaled_out.url) as traffic:
        traffic.wait_for(20, "app1")
        server.reload()
        wait_until(
            lambda: server.worker_pids() and not server.worker_pids() & old_workers,
            "app1's workers replaced",
        )
        traffic.wait_for(20, "app1")  # the new workers answer
    assert traffic.failures == []
    assert len(server.worker_pids()) == len(old_workers)
    assert scaled_out.tracebacks() == {}


def test_a_server_that_stops_is_taken_out_and_shoppers_carry_on(scaled_out, shop_app):
    """app2 stops (TERM, as a host being shut down) while shoppers browse and one is in the
    middle of checking out: the balancer sends what app2 refused (or closed unanswered) to
    app1, its health checks take app2 out, and the checkout ends in an order."""
    shop = build_flash_shop(units=3, sku=unique_sku("STOP"))
    shopper = Shopper(scaled_out.url)
    shopper.open()
    shopper.add_to_cart(shop.variant_id, 1)
    app2 = scaled_out.server("app2")
    with Traffic(scaled_out.url) as traffic:
        traffic.wait_for(10, "app2")
        app2.stop_gracefully()
        scaled_out.balancer.wait_for({"app2": "DOWN"})
        journey = check_out(shopper, email="carry.on@scale.example")
        traffic.wait_for(20, "app1")
    shopper.close()
    assert traffic.failures == []
    assert journey.outcome == ORDER, journey.failure and journey.failure.describe()
    # (the next test starts app2 again: conftest._both_servers_up)
