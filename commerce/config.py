"""Settings read from environment variables, with embedded defaults that need no services.

Each production part is switched on by one variable: DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL (a real Celery worker), REDIS_URL (cache and rate limits),
MEILISEARCH_URL (search).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"
# The test gateway's webhook secret in the embedded mode: public (it is in this file), so a
# production host refuses to start with it (`_refuse_public_secrets`).
DEV_WEBHOOK_SECRET = "whsec_dev_northwind_test_gateway"
# Secret keys that appear in this repository (tests, examples): never a production key.
PUBLIC_SECRET_KEYS = frozenset({"test-secret", "dev", "secret", "change-me", "changeme", "..."})
MIN_SECRET_KEY = 32


class UnsafeSettings(RuntimeError):
    """A production host configured with a public development secret: it refuses to start."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance: Path) -> str:
    """A stable key for the embedded mode, so sessions survive a restart without setup."""
    configured = _env("SECRET_KEY")
    if configured:
        return configured
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _roles(value: str | None) -> frozenset[str]:
    names = {part.strip().lower() for part in (value or "").split(",")}
    return frozenset(names - {"", "none"})


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping; `overrides` (tests, scripts) win over the environment."""
    overrides = dict(overrides or {})
    instance = Path(
        overrides.pop("INSTANCE_PATH", None) or _env("INSTANCE_PATH") or DEFAULT_INSTANCE
    )
    instance.mkdir(parents=True, exist_ok=True)
    broker = _env("CELERY_BROKER_URL")
    redis_url = _env("REDIS_URL")
    config: dict[str, Any] = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL", f"sqlite:///{instance / 'commerce.db'}"),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # The embedded SQLite database has one writer at a time: a save waits this many seconds
        # for a bulk edit or an import to finish, then answers "busy, try again" (503).
        "SQLITE_BUSY_TIMEOUT": float(_env("SQLITE_BUSY_TIMEOUT_SECONDS", "15") or 15),
        "SHOP_NAME": _env("SHOP_NAME", "Northwind Supply"),
        "SHOP_CURRENCY": _env("SHOP_CURRENCY", "USD"),
        "SHOP_LOCALE": _env("SHOP_LOCALE", "en_US"),
        "SHOP_TIMEZONE": _env("SHOP_TIMEZONE", "UTC"),
        # Whether catalog prices already contain tax (EU style) or tax is added at checkout.
        "PRICES_INCLUDE_TAX": _env_bool("PRICES_INCLUDE_TAX", False),
        "MEDIA_ROOT": _env("MEDIA_ROOT", str(instance / "media")),
        "MEDIA_MAX_BYTES": _env_int("MEDIA_MAX_BYTES", 10 * 1024 * 1024),
        "IMPORT_ROOT": _env("IMPORT_ROOT", str(instance / "imports")),
        # Files made for download (bulk packing slips). With several hosts, MEDIA_ROOT,
        # IMPORT_ROOT and EXPORT_ROOT are on storage every host and worker shares.
        "EXPORT_ROOT": _env("EXPORT_ROOT", str(instance / "exports")),
        "IMPORT_MAX_BYTES": _env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024),
        "IMPORT_FETCH_IMAGES": _env_bool("IMPORT_FETCH_IMAGES", True),
        # Image URLs in imports are fetched only from public addresses unless this is on.
        "IMPORT_FETCH_PRIVATE": _env_bool("IMPORT_FETCH_PRIVATE", False),
        # Keys sealing the secrets kept at rest (commerce/sealed.py), newest first; unset: one
        # key derived from SECRET_KEY.
        "DATA_KEYS": _env("DATA_KEYS", ""),
        # Let webhook deliveries reach private and loopback addresses (a local receiver).
        "WEBHOOKS_ALLOW_PRIVATE": _env_bool("WEBHOOKS_ALLOW_PRIVATE", False),
        "WEBHOOKS_DISABLE_AFTER": _env_int("WEBHOOKS_DISABLE_AFTER", 20),  # failed tries in a row
        "IMPORT_FETCH_TIMEOUT": float(_env("IMPORT_FETCH_TIMEOUT", "5") or 5),
        "MAX_CONTENT_LENGTH": _env_int("MAX_CONTENT_LENGTH", 60 * 1024 * 1024),
        "PAGE_SIZE": _env_int("PAGE_SIZE", 50),
        # A bulk edit or bulk price change touching more variants runs as a job (in chunks).
        "BULK_EDIT_JOB_VARIANTS": _env_int("BULK_EDIT_JOB_VARIANTS", 300),
        "LOW_STOCK_THRESHOLD": _env_int("LOW_STOCK_THRESHOLD", 5),
        "RESERVATION_TTL": timedelta(minutes=_env_int("RESERVATION_TTL_MINUTES", 10)),
        # How long a draft order's emailed pay link works (commerce.drafts.paylink).
        "DRAFT_PAY_LINK_DAYS": _env_int("DRAFT_PAY_LINK_DAYS", 7),
        "PAYMENTS_PROVIDER": _env("PAYMENTS_PROVIDER", "test"),
        # The test gateway's webhook signing secret; the embedded default is for development.
        "PAYMENTS_WEBHOOK_SECRET": _env("PAYMENTS_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        "PAYMENTS_AUTHORIZATION_TTL": timedelta(
            days=_env_int("PAYMENTS_AUTHORIZATION_TTL_DAYS", 7)
        ),
        # The built-in test gateway's memory (it stands for an external service, so it lives
        # outside our database) and an optional latency per call, for fault tests (off: 0).
        "PAYMENTS_TEST_GATEWAY_DB": _env(
            "PAYMENTS_TEST_GATEWAY_DB", str(instance / "payments-test-gateway.sqlite3")
        ),
        "PAYMENTS_TEST_GATEWAY_LATENCY_MS": _env_int("PAYMENTS_TEST_GATEWAY_LATENCY_MS", 0),
        # How long a checkout placement or a provider call may be in flight. Past it, the
        # process doing it is presumed gone: its checkout may be taken over and the recovery
        # task settles what it left with the provider. Keep it above the provider's timeout.
        "PAYMENTS_IN_FLIGHT_TIMEOUT": timedelta(
            seconds=_env_int("PAYMENTS_IN_FLIGHT_TIMEOUT_SECONDS", 120)
        ),
        # Take the money when the order is placed ("placement") or when it ships ("fulfillment").
        "PAYMENTS_CAPTURE": _env("PAYMENTS_CAPTURE", "placement"),
        # Refunds above this many minor units wait for an admin's approval.
        "REFUND_APPROVAL_LIMIT": _env_int("REFUND_APPROVAL_LIMIT", 20000),
        # What documents (invoices, credit notes, packing slips) print about the shop.
        "SHOP_ADDRESS": _env(
            "SHOP_ADDRESS", "Northwind Supply Co.\n100 Harbor Way\nSeattle, WA 98104\nUnited States"
        ),
        "SHOP_TAX_ID": _env("SHOP_TAX_ID", "EIN 12-3456789"),
        "SHOP_EMAIL": _env("SHOP_EMAIL", "orders@northwind.example"),
        "SHOP_LOGO": _env("SHOP_LOGO", str(ROOT / "static" / "img" / "logo.svg")),
        "CART_MAX_QUANTITY": _env_int("CART_MAX_QUANTITY", 99),
        # Shopper emails: written as .eml files under MAIL_DIR unless MAIL_SMTP_URL is set
        # (smtp://user:password@host:587, or smtps://... for implicit TLS).
        "MAIL_SMTP_URL": _env("MAIL_SMTP_URL"),
        "MAIL_DIR": _env("MAIL_DIR", str(instance / "mail")),
        "MAIL_FROM": _env("MAIL_FROM", "Northwind Supply <shop@northwind.example>"),
        # The shop's public address, for links in emails (sent outside any request). Unset,
        # an email follows the address the order was placed (or shipped) at, taken from that
        # request (wsgi._shop_url_for_emails); work outside any request uses SHOP_URL_DEFAULT,
        # the port this process serves on.
        "SHOP_URL": _env("SHOP_URL"),
        "SHOP_URL_DEFAULT": f"http://127.0.0.1:{_env('PORT', '5000')}",
        # Place-order attempts per checkout (card testing), counted per checkout, not per
        # address, so shoppers behind one proxy or carrier NAT do not share it.
        "CHECKOUT_RATE_LIMIT": _env("CHECKOUT_RATE_LIMIT", "10 per minute;30 per hour"),
        # Card testing across checkouts: declined cards per client address; beyond it, payments
        # from that address are refused for the rest of the window (counted in the limiter's
        # storage, so the flash sale's success path gains no statement).
        "DECLINE_RATE_LIMIT": _env("DECLINE_RATE_LIMIT", "5 per 10 minutes;15 per day"),
        # The checkout line (README "The checkout queue"): at most this many shoppers in
        # checkout at once (0: no cap; the console can change it live); the rest wait in line
        # on a page that asks again every POLL_MS (up to POLL_MAX_MS far back in the line).
        "CHECKOUT_QUEUE_CAPACITY": _env_int("CHECKOUT_QUEUE_CAPACITY", 100),
        "CHECKOUT_QUEUE_POLL_MS": _env_int("CHECKOUT_QUEUE_POLL_MS", 1000),
        # The next `capacity` places in line ask this often: an empty slot waits for them.
        "CHECKOUT_QUEUE_POLL_FRONT_MS": _env_int("CHECKOUT_QUEUE_POLL_FRONT_MS", 250),
        # Behind an edge cache, pages farther back read the line's shared board this often (it
        # lives as long at the edge) and ask for their turn only when it comes near.
        "CHECKOUT_QUEUE_BOARD_MS": _env_int("CHECKOUT_QUEUE_BOARD_MS", 1000),
        "CHECKOUT_QUEUE_POLL_MAX_MS": _env_int("CHECKOUT_QUEUE_POLL_MAX_MS", 5000),
        # A place whose page stopped asking is given up: near the front (the first two
        # capacities' worth, whose pages ask every second) after NEAR_TIMEOUT seconds, so a
        # closed page does not hold up the line; farther back after PLACE_TIMEOUT seconds,
        # so a crowd far back asks only every few minutes (the board moves its pages on).
        "CHECKOUT_QUEUE_PLACE_TIMEOUT": _env_int("CHECKOUT_QUEUE_PLACE_TIMEOUT", 300),
        "CHECKOUT_QUEUE_NEAR_TIMEOUT": _env_int("CHECKOUT_QUEUE_NEAR_TIMEOUT", 15),
        # A variant found sold out is answered "sold out" without its stock row for this long
        # at most; a restock clears the marker at once (commerce/inventory/sold_out.py).
        "SOLD_OUT_MARKER_SECONDS": _env_int("SOLD_OUT_MARKER_SECONDS", 300),
        # Where the line and the markers live in Redis (several shops may share one Redis).
        "CROWD_KEY_PREFIX": _env("CROWD_KEY_PREFIX", "crowd:"),
        # How many reverse proxies set X-Forwarded-For in front of the app (0: none).
        "TRUSTED_PROXIES": _env_int("TRUSTED_PROXIES", 0),
        "SIGN_IN_RATE_LIMIT": _env("SIGN_IN_RATE_LIMIT", "10 per minute;50 per hour"),
        # Discount codes refused (unknown, inactive, used up) per cart and per client address:
        # beyond them, code entry is refused for a while (guessing codes).
        "COUPON_CART_RATE_LIMIT": _env("COUPON_CART_RATE_LIMIT", "5 per minute;20 per hour"),
        "COUPON_ADDRESS_RATE_LIMIT": _env(
            "COUPON_ADDRESS_RATE_LIMIT", "20 per 10 minutes;60 per day"
        ),
        # Gift card codes refused at checkout, per checkout and per client address (guessing
        # codes), as for discount codes.
        "GIFT_CARD_CHECKOUT_RATE_LIMIT": _env(
            "GIFT_CARD_CHECKOUT_RATE_LIMIT", "5 per minute;20 per hour"
        ),
        "GIFT_CARD_ADDRESS_RATE_LIMIT": _env(
            "GIFT_CARD_ADDRESS_RATE_LIMIT", "20 per 10 minutes;60 per day"
        ),
        # Requests one Admin API token may make (flask-limiter syntax; RateLimit headers).
        "API_RATE_LIMIT": _env("API_RATE_LIMIT", "600 per minute"),
        # The Admin API's list pages: the default and the largest `limit`.
        "API_PAGE_SIZE": _env_int("API_PAGE_SIZE", 50),
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "CACHE_TYPE": "RedisCache" if redis_url else "SimpleCache",
        "CACHE_REDIS_URL": redis_url,
        "CACHE_DEFAULT_TIMEOUT": 300,
        "REDIS_URL": redis_url,
        "MEILISEARCH_URL": _env("MEILISEARCH_URL"),
        "MEILISEARCH_API_KEY": _env("MEILISEARCH_API_KEY"),
        # Search: "db" (the catalog's database) unless MEILISEARCH_URL is set; SEARCH_BACKEND
        # forces one. MEILISEARCH_INDEX names the live index (rebuilds swap into it).
        "SEARCH_BACKEND": _env("SEARCH_BACKEND"),
        "MEILISEARCH_INDEX": _env("MEILISEARCH_INDEX", "products"),
        "MEILISEARCH_TIMEOUT": _env_int("MEILISEARCH_TIMEOUT", 10),
        "MEILISEARCH_TASK_TIMEOUT_MS": _env_int("MEILISEARCH_TASK_TIMEOUT_MS", 60_000),
        # Embedded mode (no worker, no beat): a search first takes in catalog changes still
        # waiting in the outbox, so the index never lags behind a change made outside a request.
        "SEARCH_EMBEDDED_CATCH_UP": _env_bool("SEARCH_EMBEDDED_CATCH_UP", True),
        # Search analytics: events older than this many days are deleted daily; the shop's
        # beacon endpoint (POST /search/events) accepts this many events per address.
        "SEARCH_EVENTS_RETENTION_DAYS": _env_int("SEARCH_EVENTS_RETENTION_DAYS", 180),
        "SEARCH_EVENTS_RATE_LIMIT": _env("SEARCH_EVENTS_RATE_LIMIT", "120 per minute"),
        # Hosts images in product descriptions may load from, besides the shop's own media
        # (comma-separated host names, e.g. "cdn.example.com,images.example.net"); the
        # description sanitizer drops other images and the Content-Security-Policy's img-src
        # allows only these (and data: URIs).
        "IMAGE_HOSTS": [h.strip() for h in (_env("IMAGE_HOSTS") or "").split(",") if h.strip()],
        # Strict-Transport-Security, sent when SECURE_COOKIES is on (the shop is served over
        # HTTPS): how long browsers remember it (0: not sent), and whether subdomains too.
        "HSTS_MAX_AGE": _env_int("HSTS_MAX_AGE", 31_536_000),
        "HSTS_INCLUDE_SUBDOMAINS": _env_bool("HSTS_INCLUDE_SUBDOMAINS", False),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SECURE_COOKIES", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _env_bool("SECURE_COOKIES", False),
        "WTF_CSRF_TIME_LIMIT": None,
        "STAFF_INVITE_MAX_AGE": 7 * 24 * 3600,
        # Sessions live on the server (commerce/accounts): a staff session ends after this
        # many minutes unused or this long after sign-in, whatever the cookie says; "keep me
        # signed in" lasts STAFF_REMEMBER_DAYS (0: not offered), a shopper's session
        # CUSTOMER_SESSION_DAYS. A session's last-seen time is written at most once per
        # SESSION_TOUCH_SECONDS.
        "STAFF_SESSION_IDLE_MINUTES": _env_int("STAFF_SESSION_IDLE_MINUTES", 120),
        "STAFF_SESSION_MAX_MINUTES": _env_int("STAFF_SESSION_MAX_MINUTES", 12 * 60),
        "STAFF_REMEMBER_DAYS": _env_int("STAFF_REMEMBER_DAYS", 14),
        "CUSTOMER_SESSION_DAYS": _env_int("CUSTOMER_SESSION_DAYS", 30),
        "SESSION_TOUCH_SECONDS": _env_int("SESSION_TOUCH_SECONDS", 60),
        # Per account (any email, known or not): after SIGN_IN_FREE_FAILURES failed sign-ins
        # in a row, each further one waits twice as long (from SIGN_IN_BACKOFF_SECONDS up to
        # SIGN_IN_BACKOFF_MAX_SECONDS). A browser that signed in to the account before (its
        # device cookie) is not held back, so a stranger cannot lock the owner out.
        "SIGN_IN_FREE_FAILURES": _env_int("SIGN_IN_FREE_FAILURES", 5),
        "SIGN_IN_BACKOFF_SECONDS": _env_int("SIGN_IN_BACKOFF_SECONDS", 30),
        "SIGN_IN_BACKOFF_MAX_SECONDS": _env_int("SIGN_IN_BACKOFF_MAX_SECONDS", 900),
        "DEVICE_COOKIE_DAYS": _env_int("DEVICE_COOKIE_DAYS", 180),
        # Passwords people choose (commerce/passwords.py): at least this long, not guessable.
        "PASSWORD_MIN_LENGTH": _env_int("PASSWORD_MIN_LENGTH", 12),
        # Roles that must sign in with a second factor (an authenticator app), comma-separated
        # ("none" for none). Unset: admins when served over HTTPS (SECURE_COOKIES), else none.
        "STAFF_TWO_FACTOR_ROLES": _roles(
            _env("STAFF_TWO_FACTOR_ROLES", "admin" if _env_bool("SECURE_COOKIES", False) else "")
        ),
        # A password reset link works once, for this many seconds.
        "PASSWORD_RESET_MAX_AGE": _env_int("PASSWORD_RESET_MAX_AGE", 3600),
        # At most one reset email per account in this many seconds (an inbox is not flooded).
        "PASSWORD_RESET_EVERY_SECONDS": _env_int("PASSWORD_RESET_EVERY_SECONDS", 300),
        # Background work that survives crashes (README "Background work in production"): an
        # outbox event's dispatcher holds it this long before another may take it over; failed
        # deliveries back off up to OUTBOX_RETRY_MAX_SECONDS between attempts, and never stop.
        "OUTBOX_LEASE_SECONDS": _env_int("OUTBOX_LEASE_SECONDS", 300),
        "OUTBOX_RETRY_MAX_SECONDS": _env_int("OUTBOX_RETRY_MAX_SECONDS", 900),
        # A running job notes that it is alive every JOB_HEARTBEAT_SECONDS; the periodic sweep
        # fails one silent for JOB_STALE_SECONDS (its worker stopped) and sends again one still
        # queued after JOB_QUEUED_SECONDS (its message was lost).
        "JOB_HEARTBEAT_SECONDS": float(_env("JOB_HEARTBEAT_SECONDS", "15") or 15),
        "JOB_STALE_SECONDS": _env_int("JOB_STALE_SECONDS", 120),
        "JOB_QUEUED_SECONDS": _env_int("JOB_QUEUED_SECONDS", 600),
        "CELERY": {
            "broker_url": broker or "memory://",
            "result_backend": _env("CELERY_RESULT_BACKEND", redis_url) if broker else None,
            "task_always_eager": broker is None,
            "task_eager_propagates": True,
            "task_ignore_result": True,
            "broker_connection_retry_on_startup": True,
            # Worker processes per `make worker` (unset: one per CPU).
            "worker_concurrency": _env_int("CELERY_CONCURRENCY", 0) or None,
            # A task is acknowledged when it ends, not when it starts: a worker killed
            # mid-task leaves its message to be delivered again (every task is safe to run
            # twice). One message at a time per process, so a crash strands no prefetched ones.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            # Redis hands an unacknowledged message to another worker after this long; above
            # our longest task (a large import or rebuild: minutes), so a slow task is not run
            # twice meanwhile. Jobs and the outbox do not wait for it: they recover by their
            # own sweeps (heartbeats and leases).
            "broker_transport_options": {
                "visibility_timeout": _env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
            },
            # A lost broker connection does not cancel running tasks (a long import goes on).
            "worker_cancel_long_running_tasks_on_connection_loss": False,
            # `make beat` keeps its schedule state with the rest of the instance's files.
            "beat_schedule_filename": str(instance / "celerybeat-schedule"),
        },
    }
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgres://"):
        config["SQLALCHEMY_DATABASE_URI"] = config["SQLALCHEMY_DATABASE_URI"].replace(
            "postgres://", "postgresql+psycopg://", 1
        )
    secret_given = bool(overrides.get("SECRET_KEY") or _env("SECRET_KEY"))
    config.update(overrides)
    # Production: PRODUCTION=1, or served over HTTPS with secure cookies (SECURE_COOKIES=1, as
    # README "Serving in production" sets it). `make run` and the tests are neither.
    config.setdefault(
        "PRODUCTION", _env_bool("PRODUCTION", bool(config.get("SESSION_COOKIE_SECURE")))
    )
    _refuse_public_secrets(config, secret_given=secret_given)
    _size_pool(config)
    if not config.get("SEARCH_BACKEND"):
        config["SEARCH_BACKEND"] = "meilisearch" if config.get("MEILISEARCH_URL") else "db"
    _survive_outages(config)
    _edge_cache(config)
    return config


def _refuse_public_secrets(config: dict[str, Any], *, secret_given: bool) -> None:
    """A production host must not start with a secret anyone can read: the development webhook
    secret (anyone could sign a "payment succeeded" webhook) or a SECRET_KEY that is the host's
    own generated one, a placeholder from this repository, or short (sessions, carts and order
    links could be forged)."""
    if not config.get("PRODUCTION"):
        return
    problems = []
    if config.get("PAYMENTS_WEBHOOK_SECRET") in (None, "", DEV_WEBHOOK_SECRET):
        problems.append(
            "PAYMENTS_WEBHOOK_SECRET is the public development value: set the secret your "
            "payment provider signs webhooks with"
        )
    key = str(config.get("SECRET_KEY") or "")
    if not secret_given:
        problems.append(
            "SECRET_KEY is not set (this host would use its own generated key): set one long "
            "random SECRET_KEY, the same on every host"
        )
    elif key in PUBLIC_SECRET_KEYS or len(key) < MIN_SECRET_KEY:
        problems.append(
            f"SECRET_KEY is a placeholder or shorter than {MIN_SECRET_KEY} characters: set a "
            "long random one (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if problems:
        raise UnsafeSettings(
            "Refusing to start in production mode (PRODUCTION or SECURE_COOKIES is on): "
            + "; ".join(problems)
            + "."
        )


def _edge_cache(config: dict[str, Any]) -> None:
    """The edge cache in front of the shop (README "The edge cache"); explicit settings win.

    EDGE_CACHE: "none" (the embedded default: any cache may keep shop pages a minute, nothing
    is purged) or "varnish" (pages also say Surrogate-Control: max-age=EDGE_MAX_AGE, read by
    the edge only, and changes purge them by key at every EDGE_PURGE_URLS host). What no purge
    covers (best-selling orders, a count on a listing a product has left) catches up within
    EDGE_MAX_AGE."""
    engine = config.setdefault("EDGE_CACHE", (_env("EDGE_CACHE", "none") or "none").lower())
    if engine not in ("none", "varnish"):
        raise ValueError(f"EDGE_CACHE must be none or varnish, not {engine!r}")
    urls = config.setdefault("EDGE_PURGE_URLS", _env("EDGE_PURGE_URLS", "") or "")
    if isinstance(urls, str):
        config["EDGE_PURGE_URLS"] = [u.strip() for u in urls.split(",") if u.strip()]
    if engine == "varnish" and not config["EDGE_PURGE_URLS"]:
        raise ValueError("EDGE_CACHE=varnish needs EDGE_PURGE_URLS (each Varnish host's URL)")
    config.setdefault("EDGE_MAX_AGE", _env_int("EDGE_MAX_AGE", 3600))
    # Search results follow the index, which catches up with the catalog a moment after a
    # change (no purge can say when): they are kept at the edge for less.
    config.setdefault("EDGE_SEARCH_MAX_AGE", _env_int("EDGE_SEARCH_MAX_AGE", 120))
    config.setdefault("EDGE_PURGE_TIMEOUT", float(_env("EDGE_PURGE_TIMEOUT", "5") or 5))


def _size_pool(config: dict[str, Any]) -> None:
    """Database connections per process (README "Serving in production"): DATABASE_POOL_SIZE
    kept open (gunicorn workers default it to their threads, gunicorn.conf.py), up to
    DATABASE_MAX_OVERFLOW more in a burst, and a request waits DATABASE_POOL_TIMEOUT seconds
    for a free one (then 503). Explicit SQLALCHEMY_ENGINE_OPTIONS win; SQLite keeps its own."""
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        return
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("pool_size", _env_int("DATABASE_POOL_SIZE", 5))
    options.setdefault("max_overflow", _env_int("DATABASE_MAX_OVERFLOW", 10))
    options.setdefault("pool_timeout", _env_int("DATABASE_POOL_TIMEOUT", 30))
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _survive_outages(config: dict[str, Any]) -> None:
    """Settings that keep the shop selling while Redis, the broker, the database or
    Meilisearch is down (README: "When a service is down"); explicit settings win."""
    # Log lines go to standard error at this level unless logging is configured (commerce/logs.py).
    config.setdefault("LOG_LEVEL", (_env("LOG_LEVEL", "WARNING") or "WARNING").upper())
    redis_timeout = float(_env("REDIS_TIMEOUT", "1") or 1)
    config.setdefault("REDIS_TIMEOUT", redis_timeout)  # the checkout line's client too
    broker_timeout = float(_env("BROKER_TIMEOUT", "2") or 2)
    # Rate limits count in process memory while their Redis is unreachable (Flask-Limiter
    # logs the switch and checks Redis again with a growing interval). A request already
    # talking to Redis when another thread made the switch is let through (logged), not failed.
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith(("redis://", "rediss://")):
        config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_connect_timeout": redis_timeout, "socket_timeout": redis_timeout},
        )
    # The Redis cache answers a miss (and logs) instead of failing the request.
    if config.get("CACHE_TYPE") == "RedisCache":
        config["CACHE_TYPE"] = "commerce.cache.TolerantRedisCache"
        config.setdefault(
            "CACHE_OPTIONS",
            {"socket_connect_timeout": redis_timeout, "socket_timeout": redis_timeout},
        )
    # Publishing a task gives up quickly; after a failure a process leaves follow-up work to
    # the periodic tasks for BROKER_RETRY_AFTER seconds (commerce/broker.py).
    config.setdefault("BROKER_RETRY_AFTER", float(_env("BROKER_RETRY_AFTER", "15") or 15))
    if isinstance(config.get("CELERY"), dict):
        celery_conf = config["CELERY"] = dict(config["CELERY"])  # never the caller's dict
        celery_conf.setdefault("broker_connection_timeout", broker_timeout)
        celery_conf["broker_transport_options"] = {
            "socket_connect_timeout": broker_timeout,
            "socket_timeout": max(broker_timeout, 3.0),  # longer than BRPOP's 1 s wait
            **(celery_conf.get("broker_transport_options") or {}),
        }
    # A database that does not answer fails a request in seconds, not minutes (libpq waits
    # for the operating system's TCP timeout otherwise).
    url = str(config.get("SQLALCHEMY_DATABASE_URI", ""))
    if url.startswith("postgresql") and "connect_timeout" not in url:
        options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {
            "connect_timeout": _env_int("DATABASE_CONNECT_TIMEOUT", 5),
            **(options.get("connect_args") or {}),
        }
        config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    # Error pages while the database is unreachable: 503 with this Retry-After (seconds).
    config.setdefault("UNAVAILABLE_RETRY_AFTER", _env_int("UNAVAILABLE_RETRY_AFTER", 30))
    # Search while Meilisearch is down: the database keeps a standby copy of the index and
    # answers for SEARCH_FALLBACK_SECONDS after a failure; index changes wait with backoff.
    config.setdefault("SEARCH_DB_STANDBY", _env_bool("SEARCH_DB_STANDBY", True))
    config.setdefault("SEARCH_FALLBACK_SECONDS", _env_int("SEARCH_FALLBACK_SECONDS", 30))
    config.setdefault("SEARCH_RETRY_FIRST_SECONDS", _env_int("SEARCH_RETRY_FIRST_SECONDS", 10))
    config.setdefault("SEARCH_RETRY_MAX_SECONDS", _env_int("SEARCH_RETRY_MAX_SECONDS", 300))
