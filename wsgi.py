"""The composition root: the only module that imports the domain core and the web faces
(console, storefront and the Admin API)."""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    jsonify,
    render_template,
    request,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from commerce import cli as commerce_cli
from commerce import models as _models  # noqa: F401  (registers every table)
from commerce import outbox
from commerce.abandoned import tasks as _abandoned_tasks  # noqa: F401  (recovery emails)
from commerce.accounts import tasks as _account_tasks  # noqa: F401  (reset emails, purge)
from commerce.bounds import INT_MAX
from commerce.catalog import tasks as _catalog_tasks  # noqa: F401  (registers Celery tasks)
from commerce.checkout import tasks as _checkout_tasks  # noqa: F401
from commerce.config import ROOT, load_config
from commerce.customers import tasks as _customer_tasks  # noqa: F401  (registration emails)
from commerce.db import configure_sqlite
from commerce.documents import tasks as _document_tasks  # noqa: F401
from commerce.drafts import tasks as _draft_tasks  # noqa: F401  (invoice emails, paid drafts)
from commerce.edge import tasks as _edge_tasks  # noqa: F401  (purges the edge cache)
from commerce.errors import CommerceError
from commerce.extensions import cache, csrf, db, htmx, init_celery, limiter, login_manager, migrate
from commerce.giftcards import tasks as _giftcard_tasks  # noqa: F401  (codes, expiry)
from commerce.inventory import tasks as _inventory_tasks  # noqa: F401
from commerce.logs import configure_logging
from commerce.money import format_money
from commerce.orders import tasks as _order_tasks  # noqa: F401
from commerce.payments import tasks as _payment_tasks  # noqa: F401
from commerce.purchasing import tasks as _purchasing_tasks  # noqa: F401  (emails POs)
from commerce.search import init_app as init_search
from commerce.search import tasks as _search_tasks  # noqa: F401
from commerce.sessions import CacheAwareSessionInterface
from commerce.staff import tasks as _staff_tasks  # noqa: F401  (purges API idempotency keys)
from commerce.webhooks import tasks as _webhook_tasks  # noqa: F401  (outbound webhooks)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src {img_src}; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


class BoundedInt(IntegerConverter):
    """Werkzeug's int converter, up to INT_MAX (commerce/bounds.py)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT_MAX)
        super().__init__(url_map, *args, **kwargs)


def content_security_policy(image_hosts: list[str]) -> str:
    """Images from this site, data: URIs and the merchant's IMAGE_HOSTS only (no tracking
    pixel from elsewhere, even in a description saved before the sanitizer dropped them)."""
    hosts = " ".join(h for h in image_hosts if re.fullmatch(r"[A-Za-z0-9.*:-]+", h))
    return CSP.format(img_src=f"'self' data: {hosts}".strip())


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = load_config(config)
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings)
    # `<int:...>` in a URL is an id or a page: above PostgreSQL's INTEGER it matches no route
    # (404) instead of overflowing the query (500).
    app.url_map.converters["int"] = BoundedInt
    configure_logging(app)
    _warn_about_a_host_own_key(app, given=bool((config or {}).get("SECRET_KEY")))
    app.session_interface = CacheAwareSessionInterface()
    if settings["TRUSTED_PROXIES"]:
        # Behind N proxies, the client's address (rate limits, logs) is in X-Forwarded-For.
        hops = settings["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine, busy_timeout=settings["SQLITE_BUSY_TIMEOUT"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    # Templates get the staff member as a lazy proxy: Flask-Login's own context processor loads
    # the user on every render, and its "strong" session protection then rewrites a shopper's
    # session on every shop page (a signed cookie re-set, and a remember cookie deleted, on
    # each ask of the checkout line's waiting page).
    login_manager.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    htmx.init_app(app)
    cache.init_app(app)
    limiter.init_app(app)
    init_celery(app)
    init_search(app)
    _wire_layers(app)

    import api
    from console import bp as console_bp
    from console.auth import configure_login
    from storefront import bp as storefront_bp

    configure_login(login_manager)
    app.register_blueprint(console_bp)
    app.register_blueprint(storefront_bp)
    api.init_app(app)
    commerce_cli.register(app)

    app.jinja_env.globals["format_money"] = format_money
    app.jinja_env.globals["shop_currency"] = app.config["SHOP_CURRENCY"]
    app.jinja_env.filters["money"] = lambda amount, currency=None: format_money(
        amount, currency or app.config["SHOP_CURRENCY"], locale=app.config["SHOP_LOCALE"]
    )
    _register_errors(app)
    _register_health(app)
    app.after_request(_security_headers)
    outbox.on_enqueue(_mark_outbox_pending)
    outbox.on_enqueue_payload(_shop_url_for_emails)
    app.after_request(_dispatch_outbox_after_commit)
    return app


def _wire_layers(app: Flask) -> None:
    """What a lower layer asks of a higher one, handed in here (the packages' layers: a
    domain package imports only those below it)."""
    from commerce.catalog.bulk_edit import STOCK
    from commerce.catalog.csv_import import OPENING_STOCK
    from commerce.catalog.listing import IN_STOCK, SALES
    from commerce.inventory.bulk_stock import BulkStockCells
    from commerce.inventory.opening_stock import book_opening_stock
    from commerce.inventory.queries import product_available
    from commerce.orders.popularity import with_units_sold

    app.extensions[OPENING_STOCK] = book_opening_stock
    app.extensions[IN_STOCK] = product_available
    app.extensions[SALES] = with_units_sold
    app.extensions[STOCK] = BulkStockCells()


def _warn_about_a_host_own_key(app: Flask, *, given: bool) -> None:
    """Without SECRET_KEY each host signs sessions and carts with a key of its own (made in its
    instance folder): behind a load balancer, shoppers and staff would be signed out whenever
    another host answers. Harmless for one embedded host, so only a warning for PostgreSQL."""
    on_postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    if on_postgres and not given and not os.environ.get("SECRET_KEY"):
        app.logger.warning(
            "SECRET_KEY is not set: this host uses its own key (instance/secret_key); "
            "set the same SECRET_KEY on every host behind the load balancer"
        )


def _register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        """For the load balancer's health checks (deploy/haproxy.cfg): 200 when this process
        can run a query, 503 when the database does not answer. Cheap (one SELECT 1), never
        cached, and it reads no session and sets no cookie. Redis is not checked: the shop
        keeps selling while it is down (README "When a service is down")."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to query is "not ready" for the balancer
            app.logger.warning("health check: the database did not answer (%s)", exc)
            response = jsonify(status="unavailable", database="unreachable")
            response.status_code = 503
        else:
            response = jsonify(status="ok", database="ok")
        response.headers["Cache-Control"] = "no-store"
        return response


def _security_headers(response: Response) -> Response:
    csp = current_app.config.get("CONTENT_SECURITY_POLICY") or content_security_policy(
        current_app.config.get("IMAGE_HOSTS") or []
    )
    response.headers.setdefault("Content-Security-Policy", csp)
    if current_app.config.get("SESSION_COOKIE_SECURE") and current_app.config.get("HSTS_MAX_AGE"):
        # Served over HTTPS only (SECURE_COOKIES): browsers must never try plain HTTP again,
        # where the cookies could not be sent and a network attacker could answer instead.
        hsts = f"max-age={int(current_app.config['HSTS_MAX_AGE'])}"
        if current_app.config.get("HSTS_INCLUDE_SUBDOMAINS"):
            hsts += "; includeSubDomains"
        response.headers.setdefault("Strict-Transport-Security", hsts)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.path.startswith("/console"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _shop_url_for_emails(topic: str) -> dict[str, Any]:
    """An order's emails go out after the request: with SHOP_URL unset, their links follow
    the address this request reached the shop at (host and port), kept with the event."""
    from flask import current_app

    from commerce.orders.emails import LINKED_TOPICS, SHOP_URL_KEY

    if topic not in LINKED_TOPICS or not has_request_context():
        return {}
    if current_app.config.get("SHOP_URL"):
        return {}
    return {SHOP_URL_KEY: request.url_root.rstrip("/")}


def _mark_outbox_pending() -> None:
    """An outbox event was enqueued: in a request, remember it for after the response."""
    if has_request_context():
        g.outbox_pending = True


def _dispatch_outbox_after_commit(response: Response) -> Response:
    """Queue delivery of events this request committed (inline in the eager embedded mode)."""
    if g.pop("outbox_pending", False):
        from commerce.broker import queue_task

        try:
            queue_task(outbox.dispatch_outbox)  # broker down: False; the beat task delivers them
        except Exception:  # the beat task picks the events up; the request already succeeded
            import logging

            logging.getLogger(__name__).exception("could not queue outbox dispatch")
    return response


STATIC_ALERTS = {  # for htmx requests (the console's toast reads the alert's text)
    500: '<div class="alert alert-error" role="alert" data-status="500"><strong>Something went '
    "wrong.</strong> The error was logged. Please try again.</div>",
    503: '<div class="alert alert-error" role="alert" data-status="503"><strong>Unavailable for '
    "a moment.</strong> Please try again in a minute.</div>",
}


def database_unreachable(exc: BaseException | None) -> bool:
    """Whether an error (or one it arose from) says the database cannot be reached: no
    connection, a connection lost or refused, the server shutting down, no free connection."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, SATimeoutError):  # no free connection in the pool
            return True
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated:
                return True
            if isinstance(exc, OperationalError | InterfaceError):
                state = getattr(exc.orig, "sqlstate", None)
                if state is None and type(exc.orig).__module__.startswith("sqlite3"):
                    message = str(exc.orig)
                    return "database is locked" in message or "unable to open" in message
                return state is None or state.startswith("08") or state in UNAVAILABLE_STATES
            return False
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


# PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}


def _register_errors(app: Flask) -> None:
    import api

    def render_error(status: int, title: str, message: str) -> tuple[str, int]:
        area = "console" if request.path.startswith("/console") else "storefront"
        template = f"errors/{area}.html"
        if request.headers.get("HX-Request"):
            return render_template(
                "errors/_fragment.html", status=status, title=title, message=message
            ), status
        return render_template(template, status=status, title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_error(400, "Your form expired", "Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code in (301, 302, 303, 307, 308):
            return exc
        if api.is_api_request():  # an unknown /api URL or method: problem+json, not a page
            return api.http_problem(exc)
        messages = {
            403: ("Not allowed", "Your role does not give access to this page or action."),
            404: ("Not found", "We could not find what you were looking for."),
            405: ("Not allowed", "That page does not accept this kind of request."),
            413: ("Too large", "That upload is larger than we accept."),
            429: ("Too many attempts", "Please wait a minute before trying again."),
        }
        title, message = messages.get(exc.code or 500, (exc.name, exc.description or ""))
        return render_error(exc.code or 500, title, message)

    @app.errorhandler(CommerceError)
    def domain_error(exc: CommerceError) -> tuple[str, int]:
        db.session.rollback()
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 503: "Unavailable"}
        return render_error(exc.status, titles.get(exc.status, "Cannot do that"), exc.message)

    @app.errorhandler(500)
    def server_error(exc: Exception) -> Any:
        """Never fails and never shows internals: the templated page when it renders, else a
        static one; 503 with Retry-After when the database is unreachable (the templates would
        need it for the navigation, the cart and the signed-in user)."""
        original = getattr(exc, "original_exception", None) or exc
        with contextlib.suppress(Exception):  # a connection already gone
            db.session.rollback()
        if api.is_api_request():
            status = 503 if database_unreachable(original) else 500
            return api.problem_response(status, "The error was logged. Please try again.")
        if not database_unreachable(original):
            try:
                return render_error(
                    500, "Something went wrong", "The error was logged. Please try again."
                )
            except Exception as failure:  # the page itself needed what is broken
                app.logger.warning("error page failed (%s); serving the static one", failure)
                original = failure
        return static_error(503 if database_unreachable(original) else 500)

    static_pages = {
        (area, status): (ROOT / "static" / "errors" / f"{area}-{status}.html").read_text()
        for area in ("shop", "console")
        for status in (500, 503)
    }

    def static_error(status: int) -> Response:
        """A page from static/errors (no template, no query), the shop's or the console's; an
        alert fragment for htmx."""
        area = "console" if request.path.startswith("/console") else "shop"
        hx = bool(request.headers.get("HX-Request"))
        body = STATIC_ALERTS[status] if hx else static_pages[(area, status)]
        response = Response(body, status, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        if status == 503:
            response.headers["Retry-After"] = str(app.config["UNAVAILABLE_RETRY_AFTER"])
        return response


app = create_app()
celery = app.extensions["celery"]  # `celery -A wsgi:celery worker|beat` (make worker, make beat)
