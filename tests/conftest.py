"""Shared fixtures: an app on SQLite, a database rolled back after each test, factories,
signed-in clients per role, and a query counter for N+1 checks.

PostgreSQL and Redis legs read TEST_DATABASE_URL / TEST_REDIS_URL (the Makefile starts both
servers and sets them). Under CI those legs must run, so a missing server fails instead of
skipping.
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, select
from werkzeug.security import generate_password_hash

from commerce.extensions import db
from commerce.staff.models import StaffMember


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs two workers), each worker gets its own PostgreSQL
    database (the suite's, suffixed with the worker's name, created if missing) and its own
    Redis database number, so workers never reset or flush each other's data. Set in the
    environment, so the processes a test starts (gunicorn, Celery, benches) inherit them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    number = int(worker.removeprefix("gw") or 0)
    database = os.environ.get("TEST_DATABASE_URL")
    if database:
        os.environ["TEST_DATABASE_URL"] = _worker_database(database, worker)
    broker = os.environ.get("TEST_REDIS_URL")
    if broker:
        os.environ["TEST_REDIS_URL"] = _worker_redis(broker, number)


def _worker_database(url: str, worker: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    from sqlalchemy import create_engine, text

    parts = urlsplit(url)
    name = f"{parts.path.strip('/')}_{worker}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not found:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return urlunsplit(parts._replace(path=f"/{name}"))


def _worker_redis(url: str, number: int) -> str:
    """Database N+1 of the same server (N+1 past the given one, if the URL names one)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + number + 1}"))


TEST_PASSWORD = "correct horse battery"
FAST_HASH = generate_password_hash(TEST_PASSWORD, method="pbkdf2:sha256:1000")


def base_config(tmp_path: Any, **extra: Any) -> dict[str, Any]:
    media = tmp_path / "media"
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.db'}",
        "MEDIA_ROOT": str(media),
        "IMPORT_ROOT": str(tmp_path / "imports"),
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,  # tests of CSRF itself switch it back on
        "IMPORT_FETCH_PRIVATE": True,  # image URLs are served by pytest-httpserver on loopback
        "WEBHOOKS_ALLOW_PRIVATE": True,  # the test receiver (pytest-httpserver) is on loopback
        **extra,
    }


def require_service(name: str, env_var: str) -> str:
    url = os.environ.get(env_var)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required under CI: set {env_var} (make test does)")
    pytest.skip(f"{name} not available: set {env_var} or run `make test`")


class RequestScopedClient(FlaskClient):
    """Each request gets its own app context (own `g`, own database session), as in production.

    Without this, requests would reuse the test's app context, sharing `g` (Flask-Login's cached
    user) and the identity map between requests. After each request the test's own objects are
    expired, so assertions read what the request committed.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        from flask import has_app_context

        if has_app_context():
            db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from wsgi import create_app

    application = create_app(base_config(tmp_path_factory.mktemp("instance")))
    application.test_client_class = RequestScopedClient
    with application.app_context():
        db.create_all()
        yield application


class _TestSession(FlaskSession):
    """Bound to the test's connection, so every query joins the outer (rolled back) transaction.

    Only for the suite's app: a test that builds its own app (another database) gets that
    app's engine.
    """

    test_app: Flask | None = None

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        from flask import current_app

        if self.bind is not None and current_app._get_current_object() is self.test_app:
            return self.bind
        return super().get_bind(*args, **kwargs)


@pytest.fixture(autouse=True)
def db_session(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each test runs inside a transaction that is rolled back; services' commits are savepoints.

    Tests marked `browser`, `postgres` or `redis` bring their own database with real commits.
    """
    if any(request.node.get_closest_marker(m) for m in ("browser", "postgres", "redis")):
        yield None
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        _TestSession.test_app = application
        db.session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": _TestSession,
            }
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def restore_shared_extensions(request: pytest.FixtureRequest) -> Iterator[None]:
    """Limiter and Celery keep per-app state on their (module-level) objects; a test that
    builds its own app must not leave the suite's app with its settings."""
    from celery._state import _set_task_join_will_block

    from commerce.extensions import celery, init_celery, limiter

    yield
    # Celery marks "inside a task" in one process-wide flag that eager tasks set and restore;
    # eager tasks run at once on several threads (the race tests) can leave it set, and a
    # later test's `.delay().get()` would then refuse to run.
    _set_task_join_will_block(False)
    if "app" in request.fixturenames:
        application: Flask = request.getfixturevalue("app")
        limiter.enabled = application.config["RATELIMIT_ENABLED"]
        # The checkout line and sold-out markers live in the suite app's memory, and row ids
        # repeat across rolled-back tests: every test starts with an empty line.
        application.extensions.pop("crowd", None)
        if getattr(celery, "flask_app", None) is not application:
            init_celery(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


_counter = itertools.count(1)


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., StaffMember]:
    def make(
        role: str = "merchandiser", *, email: str | None = None, active: bool = True, **kw: Any
    ) -> StaffMember:
        member = StaffMember(
            email=email or f"{role}{next(_counter)}@example.com",
            name=kw.pop("name", role.title()),
            role=role,
            password_hash=FAST_HASH,
            is_active=active,
            **kw,
        )
        db.session.add(member)
        db.session.commit()
        return member

    return make


@pytest.fixture
def make_customer(app: Flask) -> Callable[..., Any]:
    """make_customer(email=..., name=...) -> a Customer whose password is TEST_PASSWORD."""
    from commerce.customers.models import Customer

    def make(*, email: str | None = None, active: bool = True, **kw: Any) -> Any:
        customer = Customer(
            email=email or f"shopper{next(_counter)}@example.com",
            name=kw.pop("name", "Shopper"),
            password_hash=FAST_HASH,
            is_active=active,
            **kw,
        )
        db.session.add(customer)
        db.session.commit()
        return customer

    return make


def sign_in(
    client: FlaskClient, member: StaffMember, password: str = TEST_PASSWORD, **extra: Any
) -> Any:
    return client.post(
        "/console/login",
        data={"email": member.email, "password": password, **extra},
        follow_redirects=False,
    )


@pytest.fixture
def login(
    client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> Callable[..., StaffMember]:
    """login("merchandiser") -> the signed-in StaffMember; the `client` carries the session."""

    def do(role: str = "merchandiser", **kw: Any) -> StaffMember:
        member = make_staff(role, **kw)
        response = sign_in(client, member)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return member

    return do


@pytest.fixture
def make_category(app: Flask) -> Callable[..., Any]:
    from commerce.catalog.taxonomy import create_category

    def make(name: str | None = None, *, parent: Any = None, **kw: Any) -> Any:
        return create_category(
            name=name or f"Category {next(_counter)}",
            parent_id=getattr(parent, "id", parent),
            by=None,
            **kw,
        )

    return make


@pytest.fixture
def make_product(app: Flask) -> Callable[..., Any]:
    """make_product(title=..., price=1999, options=[("Size", ["S", "M"])], ...) -> Product."""
    from commerce.catalog.services import create_product, generate_variants, set_options

    def make(
        title: str | None = None, *, options: list[tuple[str, list[str]]] | None = None, **kw: Any
    ) -> Any:
        n = next(_counter)
        kw.setdefault("price", 1000 + n)
        kw.setdefault("sku", f"SKU-{n:05d}")
        product = create_product(title=title or f"Product {n}", by=None, **kw)
        if options:
            set_options(product, options, by=None)
            generate_variants(product, by=None)
        return product

    return make


class Statements(list[str]):
    """The SQL statements run inside a count_queries() block (savepoint statements left out,
    since the suite's own rolled-back transaction turns every commit into one), plus what was
    left out: `savepoints` (SAVEPOINT, RELEASE, ROLLBACK TO) and `commits` (real COMMITs on
    the connection, e.g. on PostgreSQL with `pg_app`). `round_trips` counts every statement
    the database answered, savepoints included: what statement budgets hold."""

    savepoints: int = 0
    commits: int = 0

    @property
    def round_trips(self) -> int:
        return len(self) + self.savepoints

    def describe(self) -> str:
        """One line per statement (for an assertion message)."""
        return "\n".join(" ".join(s.split())[:160] for s in self)


@contextmanager
def count_queries() -> Iterator[Statements]:
    """Collect the SQL statements and commits run inside the block (for N+1 checks and
    statement budgets)."""
    statements = Statements()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            statements.savepoints += 1
        else:
            statements.append(statement)

    def committed(_conn: Any) -> None:
        statements.commits += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", committed)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", committed)


@pytest.fixture
def query_counter() -> Callable[[], Any]:
    return count_queries


def htmx_headers(**extra: str) -> dict[str, str]:
    return {"HX-Request": "true", **extra}


def waiting_address(answer: Any) -> str:
    """The waiting page's own address (its box's hx-get, with the ticket), from the page
    POST /checkout answers a shopper sent to the checkout line with."""
    text = answer.get_data(as_text=True)
    waiting = answer.status_code == 200 and 'data-queue="waiting"' in text
    found = OWN_ADDRESS.search(text) if waiting else None
    assert found, f"not the waiting page: {answer.status_code} {text[:300]}"
    return html.unescape(found.group(1))


@pytest.fixture(scope="session")
def pg_url() -> str:
    return require_service("PostgreSQL", "TEST_DATABASE_URL")


@pytest.fixture
def redis_url() -> str:
    """The Redis test server, emptied: live servers cache and rate-limit there."""
    from bench._server import flush_redis

    url = require_service("Redis", "TEST_REDIS_URL")
    flush_redis(url)
    return url


def reset_postgres(url: str) -> None:
    """An empty public schema (the test database is the suite's own)."""
    from bench._server import reset_schema

    reset_schema(url, "public", create=True)


@pytest.fixture
def pg_app(pg_url: str, tmp_path: Any) -> Iterator[Flask]:
    """The app on PostgreSQL with real commits, schema built by the migrations."""
    from flask_migrate import upgrade

    from wsgi import create_app

    reset_postgres(pg_url)
    application = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=pg_url))
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def build_checkout_shop(*, stock: int = 10, price: int = 2500) -> Any:
    """A shop to check out in (call inside an app context): a T-shirt in sizes S and M with
    `stock` units each at the default location, US shipping (STD flat $5.00, free from
    $100.00; HEAVY by weight), and US sales tax 5% (7.25% in CA). Prices exclude tax."""
    from types import SimpleNamespace

    from bench._server import prepare_us_checkout
    from commerce.catalog.services import create_product, generate_variants, set_options
    from commerce.inventory.services import receive_stock
    from commerce.shipping.services import create_shipping_method

    n = next(_counter)
    prepare_us_checkout()
    product = create_product(
        title=f"Field Tee {n}", price=price, sku=f"TEE-{n}", status="active", by=None
    )
    set_options(product, [("Size", ["S", "M"])], by=None)
    generate_variants(product, by=None)
    small, medium = product.variants[0], product.variants[1]
    small.sku, medium.sku = f"TEE-{n}-S", f"TEE-{n}-M"
    for variant in (small, medium):
        variant.weight_grams = 250
        if stock:
            receive_stock(variant.id, quantity=stock, by=None)
    db.session.commit()
    from commerce.shipping.models import ShippingMethod

    heavy = db.session.scalar(select(ShippingMethod).where(ShippingMethod.code == "HEAVY"))
    if heavy is None:  # a second shop in the same database (browser tests) shares it
        create_shipping_method(
            name="Heavy goods",
            code="HEAVY",
            kind="weight",
            brackets=[{"up_to_grams": 1000, "price": 900}, {"up_to_grams": 50000, "price": 2900}],
            countries="US",
            by=None,
        )
    return SimpleNamespace(product=product, small=small.id, medium=medium.id, price=price)


from bench._server import OWN_ADDRESS, US_ADDRESS  # noqa: E402  (one address for tests and benches)

TEST_CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}


@pytest.fixture
def checkout_shop(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    return build_checkout_shop()


# -- placed orders (orders, documents, console tests) ------------------------------------------

SHOP_URL = "https://shop.example"
SHOPPER = "ada@example.com"


@pytest.fixture
def mail_dir(app: Flask, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Embedded mail mode writing into this test's own folder, with a public shop address."""
    folder = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_DIR", str(folder))
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", None)
    monkeypatch.setitem(app.config, "SHOP_URL", SHOP_URL)
    return folder


@pytest.fixture
def place(checkout_shop: Any) -> Callable[..., Any]:
    """place(quantity=2, email=SHOPPER) -> an Order, its order.placed event still pending."""

    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )

    def do(quantity: int = 2, *, email: str = SHOPPER) -> Any:
        cart = add_to_cart(None, variant_id=checkout_shop.small, quantity=quantity)
        checkout = start_checkout(cart)
        save_information(checkout, email=email, address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        order = place_order(checkout.key, card=TEST_CARD).order
        assert order is not None
        return order

    return do
