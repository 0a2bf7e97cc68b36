"""Each token has its own rate limit (flask-limiter), announced in RateLimit headers; past it
a 429 problem with Retry-After."""

from __future__ import annotations

from typing import Any

from commerce.extensions import db
from commerce.staff.tokens import create_token
from tests.conftest import base_config


def test_per_token_limit_and_headers(tmp_path: Any) -> None:
    from wsgi import create_app

    app = create_app(base_config(tmp_path, RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute"))
    with app.app_context():
        db.create_all()
        _, first = create_token("one", scopes=["products:read"], by=None)
        _, second = create_token("two", scopes=["products:read"], by=None)
        client = app.test_client()

        def get(secret: str) -> Any:
            return client.get("/api/v1/products", headers={"Authorization": f"Bearer {secret}"})

        answers = [get(first) for _ in range(4)]
        other = get(second)
        db.session.remove()

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert "X-RateLimit-Reset" in answers[0].headers
    limited = answers[3]
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json(force=True)["status"] == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["X-Request-Id"]
    assert other.status_code == 200  # another token has its own budget
