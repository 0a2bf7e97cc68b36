"""Error pages that need nothing: when the database refuses connections the shop and the
console answer a static 503 page (an alert for htmx) with Retry-After, naming no host, port or
error; errors of the page itself fall back to the static page instead of a bare 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import text

from bench._server import free_port
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD, base_config

LEAKS = ("127.0.0.1", "psycopg", "OperationalError", "Traceback", "nowhere")


@pytest.fixture
def no_database(tmp_path: Any) -> tuple[Flask, int]:
    """The app configured with a PostgreSQL server where nothing listens."""
    from wsgi import create_app

    port = free_port()
    app = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://shop:secret@127.0.0.1:{port}/nowhere",
            PROPAGATE_EXCEPTIONS=False,
        )
    )

    @app.route("/boom")
    @app.route("/broken")
    def boom() -> str:
        raise RuntimeError("boom at 127.0.0.1")

    @app.context_processor
    def layout_helpers() -> dict[str, Any]:
        """Like the shop's navigation: the layout (error pages too) reads the database."""
        if request.path == "/boom":
            db.session.execute(text("SELECT 1"))
        if request.path == "/broken":
            raise LookupError("a helper of the layout failed")
        return {}

    return app, port


def _check(response: Any, port: int, *, console: bool = False, hx: bool = False) -> str:
    text = response.get_data(as_text=True)
    assert response.status_code == 503, text[:300]
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    for leak in (*LEAKS, str(port)):
        assert leak not in text, leak
    if hx:
        assert text.startswith('<div class="alert alert-error" role="alert" data-status="503">')
    elif console:
        assert "The console is unavailable for a moment" in text and "console.css" in text
    else:
        assert "Back in a moment" in text and "storefront.css" in text
    return text


def test_the_shop_answers_the_static_page(no_database: tuple[Flask, int]) -> None:
    app, port = no_database
    client = app.test_client()
    _check(client.get("/"), port)
    _check(client.get("/search?q=tee"), port)
    _check(client.get("/", headers={"HX-Request": "true"}), port, hx=True)
    _check(client.get("/boom"), port)  # the error page needed the database too


def test_an_error_page_that_fails_falls_back_to_the_static_one(
    no_database: tuple[Flask, int],
) -> None:
    app, _port = no_database
    response = app.test_client().get("/broken")
    text = response.get_data(as_text=True)
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert "Something went wrong" in text and "storefront.css" in text
    assert "boom" not in text and "LookupError" not in text


def test_the_console_answers_the_static_page(no_database: tuple[Flask, int]) -> None:
    app, port = no_database
    client = app.test_client()
    signing_in = {"email": "admin@example.com", "password": TEST_PASSWORD}
    _check(client.post("/console/login", data=signing_in), port, console=True)
    _check(
        client.post("/console/login", data=signing_in, headers={"HX-Request": "true"}),
        port,
        console=True,
        hx=True,
    )
