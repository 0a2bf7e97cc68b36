"""Entry point for `celery -A commerce.worker worker|beat`: the app with its tasks loaded."""

from datetime import timedelta

from wsgi import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
celery.conf.beat_schedule = {
    "dispatch-outbox": {"task": "commerce.outbox.dispatch", "schedule": timedelta(seconds=5)},
}
