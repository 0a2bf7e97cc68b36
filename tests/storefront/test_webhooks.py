"""The payment webhook endpoint over HTTP: signed events apply once, forged ones are refused."""

from __future__ import annotations

import json

from commerce.payments.services import get_provider


def post(client, headers, body, provider="test"):
    return client.post(
        f"/payments/webhooks/{provider}",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_signed_event_is_accepted_once(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # webhooks are exempt anyway
    headers, body = get_provider("test").build_webhook(
        "payment.failed", {"payment_reference": "tg_unknown"}, event_id="evt_http_1"
    )
    first = post(client, headers, body)
    assert first.status_code == 200 and first.get_json() == {"outcome": "ignored"}
    again = post(client, headers, body)
    assert again.status_code == 200 and again.get_json() == {"outcome": "duplicate"}
    assert first.headers["Cache-Control"] == "no-store"


def test_forged_or_tampered_events_are_refused(client):
    headers, body = get_provider("test").build_webhook("payment.failed", {"payment_reference": "x"})
    tampered = json.loads(body)
    tampered["data"]["payment_reference"] = "y"
    response = post(client, headers, json.dumps(tampered).encode())
    assert response.status_code == 400 and "error" in response.get_json()
    assert post(client, {}, body).status_code == 400
    assert post(client, headers, body, provider="nope").status_code == 404
