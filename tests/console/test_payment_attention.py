"""Money that needs a person, through HTTP: the "Needs attention" list, running the recovery
from the console, and capturing an authorized payment by hand (confirm first, audited, once)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.orders.models import AUTHORIZED, PAID, Order
from commerce.payments import sandbox_gateway as tg
from commerce.payments.provider import FAILED, ProviderResult
from tests.conftest import htmx_headers


@pytest.fixture
def refused_capture(app, place, monkeypatch):
    """An order whose capture at placement the provider refused (it stays authorized)."""
    monkeypatch.setitem(app.config, "PAYMENTS_IN_FLIGHT_TIMEOUT", timedelta(0))
    with monkeypatch.context() as patch:
        patch.setattr(
            tg.SandboxGateway,
            "capture",
            lambda self, **kw: ProviderResult(FAILED, error_code="processing_error", message="no"),
        )
        order = place(1)
    assert order.payment_status == AUTHORIZED
    return order


def text(response) -> str:
    return response.get_data(as_text=True)


def test_support_sees_the_refused_capture_and_captures_it_once(client, login, refused_capture):
    order = refused_capture
    login("support")
    listing = client.get("/console/payments/attention")
    assert listing.status_code == 200
    assert "Capture refused" in text(listing) and order.name in text(listing)
    assert f"/console/orders/{order.id}/capture" in text(listing)
    assert f"/console/orders/{order.id}/capture" in text(client.get(f"/console/orders/{order.id}"))

    confirm = client.get(f"/console/orders/{order.id}/capture")
    assert confirm.status_code == 200
    assert "hx-confirm" in text(confirm) and "Visa ···· 4242" in text(confirm)
    assert db.session.get(Order, order.id).payment_status == AUTHORIZED  # nothing yet

    done = client.post(f"/console/orders/{order.id}/capture")
    assert done.status_code == 303
    assert db.session.get(Order, order.id).payment_status == PAID
    again = client.post(f"/console/orders/{order.id}/capture", headers=htmx_headers())
    assert again.status_code == 409 and "nothing to capture" in text(again).lower()
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "order.capture")
        )
        == 1
    )
    assert "Nothing needs a person" in text(client.get("/console/payments/attention"))


def test_capture_by_htmx_answers_a_redirect_and_a_toast(client, login, refused_capture):
    login("admin")
    response = client.post(f"/console/orders/{refused_capture.id}/capture", headers=htmx_headers())
    assert response.status_code == 204
    assert response.headers["HX-Location"].endswith(f"/console/orders/{refused_capture.id}")
    assert "Payment captured" in response.headers["HX-Trigger"]


def test_running_the_recovery_from_the_console(client, login, refused_capture):
    login("support")
    response = client.post("/console/payments/recover")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/payments/attention")


def test_the_dashboard_counts_what_needs_attention(client, login, refused_capture):
    login("support")
    html = text(client.get("/console/"))
    assert 'id="money-attention"' in html and "Payment needing attention" in html


@pytest.mark.parametrize("role", ["warehouse", "merchandiser"])
def test_other_roles_neither_see_nor_capture(client, login, refused_capture, role):
    login(role)
    assert client.get("/console/payments/attention").status_code == 403
    assert client.post(f"/console/orders/{refused_capture.id}/capture").status_code == 403
    assert "Needs attention" not in text(client.get("/console/"))
    assert db.session.get(Order, refused_capture.id).payment_status == AUTHORIZED
