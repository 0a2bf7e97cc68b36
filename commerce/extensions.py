"""Unbound Flask extensions; create_app() binds them with init_app."""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery, Task
from flask import Flask, has_app_context
from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic can drop them again on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
cache = Cache()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class FlaskTask(Task):
    """Runs every task inside the Flask app context, unless one is already active (eager mode)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return self.run(*args, **kwargs)
        with self.app.flask_app.app_context():  # type: ignore[attr-defined]
            return self.run(*args, **kwargs)


celery = Celery("commerce", task_cls=FlaskTask)

# Periodic tasks that packages above this module add (name -> beat entry), kept here so every
# (re)configuration of Celery schedules them too, not only the first.
PERIODIC: dict[str, dict[str, Any]] = {}


def init_celery(app: Flask) -> Celery:
    from datetime import timedelta

    celery.conf.update(app.config["CELERY"])
    # Reconfiguring (a second app in one process: tests, scripts) must not keep the previous
    # broker's connection pools or result backend, which Celery caches at first use.
    celery._pool = None
    if "amqp" in celery.__dict__:
        celery.amqp._producer_pool = None
    celery._backend_cache = None
    celery._local = threading.local()
    celery.conf.beat_schedule = {
        "dispatch-outbox": {"task": "commerce.outbox.dispatch", "schedule": timedelta(seconds=5)},
        "release-expired-reservations": {
            "task": "commerce.inventory.release_expired",
            "schedule": timedelta(minutes=1),
        },
        "purge-stale-carts": {
            "task": "commerce.checkout.purge_stale_carts",
            "schedule": timedelta(hours=24),
        },
        "expire-authorizations": {
            "task": "commerce.payments.expire_authorizations",
            "schedule": timedelta(minutes=15),
        },
        "recover-payments": {"task": "commerce.payments.recover", "schedule": timedelta(minutes=1)},
        "release-expired-coupon-holds": {
            "task": "commerce.promotions.release_expired_holds",
            "schedule": timedelta(minutes=5),
        },
        "sweep-jobs": {"task": "commerce.jobs.sweep", "schedule": timedelta(minutes=1)},
        "purge-idempotency-keys": {
            "task": "commerce.staff.purge_idempotency_keys",
            "schedule": timedelta(hours=1),
        },
        **PERIODIC,
    }
    celery.flask_app = app  # type: ignore[attr-defined]
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
