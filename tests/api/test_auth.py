"""Tokens only: a missing, unknown, expired or revoked token is 401, a missing scope 403, all
as problem+json; the console's session cookie opens nothing."""

from __future__ import annotations

from datetime import timedelta

from commerce.db import utcnow
from commerce.extensions import db
from commerce.staff.tokens import revoke_token
from tests.api.conftest import Api
from tests.conftest import sign_in

URL = "/api/v1/products"


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and "type" in body
    assert response.headers["X-Request-Id"] == body["request_id"]
    return body


def test_missing_token_is_401(app):
    response = Api(app.test_client(), None).get(URL)
    body = _problem(response, 401)
    assert "Bearer" in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401(app):
    _problem(Api(app.test_client(), "cmk_not-a-real-token").get(URL), 401)


def test_other_schemes_are_not_tokens(app, api):
    response = app.test_client().get(URL, headers={"Authorization": f"Basic {api.secret}"})
    _problem(response, 401)


def test_expired_token_is_401(api_as):
    client = api_as("products:read", expires_in=timedelta(minutes=5))
    assert client.get(URL).status_code == 200
    client.token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _problem(client.get(URL), 401)["detail"] == "The API token has expired."


def test_revoked_token_stops_at_its_next_request(api_as, make_staff):
    client = api_as("products:read")
    assert client.get(URL).status_code == 200
    revoke_token(client.token, by=make_staff("admin"))
    assert _problem(client.get(URL), 401)["detail"] == "The API token was revoked."


def test_wrong_scope_is_403(api_as):
    client = api_as("orders:read")
    body = _problem(client.get(URL), 403)
    assert "products:read" in body["detail"]
    assert body["type"].endswith("#problem-insufficient_scope")


def test_read_scope_cannot_write(api_as):
    client = api_as("products:read")
    _problem(client.post(URL, json={"title": "x"}), 403)


def test_console_session_cookie_is_refused(app, make_staff):
    client = app.test_client()
    assert sign_in(client, make_staff("admin")).status_code == 303
    _problem(client.get(URL), 401)  # the signed-in admin's cookie rides along: still 401


def test_api_answers_set_no_cookie(api):
    response = api.get(URL)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_request_id_is_echoed_or_made(api):
    given = api.get(URL, headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = api.get(URL, headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["X-Request-Id"] not in ("", "bad id with spaces")


def test_unknown_url_under_the_api_is_a_problem(api):
    response = api.get("/api/v1/nothing-here")
    _problem(response, 404)


def test_no_csrf_token_needed_for_posts(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = api.post(URL, json={"title": "Tee", "price": {"amount": 1500, "currency": "USD"}})
    assert response.status_code == 201, response.get_data(as_text=True)
