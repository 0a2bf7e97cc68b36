"""Console → Settings → Webhooks: admins subscribe endpoints, see the delivery log and
redeliver (the same webhook-id); every change is audited; other roles are refused."""

from __future__ import annotations

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.outbox import dispatch_pending
from commerce.webhooks.models import SUCCEEDED, WebhookDelivery, WebhookEndpoint

PAGE = "/console/settings/webhooks"


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_admin_subscribes_edits_and_rotates(client, login):
    admin = login("admin")
    assert client.get(PAGE).status_code == 200
    refused = client.post(PAGE, data={"url": "ftp://x", "topics": []})
    assert refused.status_code == 422
    assert "Choose at least one topic." in refused.get_data(as_text=True)

    created = client.post(
        PAGE,
        data={
            "url": "https://erp.example/hooks",
            "description": "ERP",
            "topics": ["order.paid", "order.created"],
            "enabled": "y",
        },
    )
    assert created.status_code == 303
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint.topics == ["order.created", "order.paid"] and endpoint.enabled
    assert endpoint.secret.startswith("whsec_")
    page = client.get(f"{PAGE}/{endpoint.id}").get_data(as_text=True)
    assert endpoint.secret in page

    saved = client.post(
        f"{PAGE}/{endpoint.id}",
        data={"url": "https://erp.example/v2", "topics": ["product.updated"]},
    )
    assert saved.status_code == 303
    db.session.expire_all()
    assert endpoint.url == "https://erp.example/v2" and endpoint.enabled is False
    old = endpoint.secret
    assert client.post(f"{PAGE}/{endpoint.id}/rotate").status_code == 303
    db.session.expire_all()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert client.post(f"{PAGE}/{endpoint.id}/delete").status_code == 303
    assert db.session.scalar(select(WebhookEndpoint)) is None
    assert _actions()[-4:] == [
        "webhook_endpoint.create",
        "webhook_endpoint.update",
        "webhook_endpoint.rotate_secret",
        "webhook_endpoint.delete",
    ]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action.like("webhook%")))
    assert entry.actor_id == admin.id
    assert old not in str(entry.after)  # secrets stay out of the audit log


def test_delivery_log_and_redelivery(client, login, httpserver, make_product):
    login("admin")
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    client.post(
        PAGE,
        data={"url": httpserver.url_for("/hook"), "topics": ["product.created"], "enabled": "y"},
    )
    endpoint = db.session.scalar(select(WebhookEndpoint))
    make_product(title="Paddle")
    dispatch_pending()
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == SUCCEEDED
    page = client.get(f"{PAGE}/{endpoint.id}").get_data(as_text=True)
    assert delivery.message_id in page and "thanks" in page and "product.created" in page

    again = client.post(f"{PAGE}/{endpoint.id}/deliveries/{delivery.id}/redeliver")
    assert again.status_code == 303
    assert len(httpserver.log) == 2
    ids = {request.headers["webhook-id"] for request, _ in httpserver.log}
    assert ids == {delivery.message_id}
    request = httpserver.log[-1][0]
    Webhook(endpoint.secret).verify(request.get_data(as_text=True), dict(request.headers))
    db.session.expire_all()
    assert delivery.attempts == 2 and delivery.status == SUCCEEDED
    assert _actions()[-1] == "webhook_delivery.redeliver"


def test_a_disabled_endpoint_is_not_redelivered_to(client, login):
    from commerce.webhooks.services import create_endpoint

    login("admin")
    endpoint = create_endpoint(
        url="https://erp.example/hooks", topics=["order.created"], enabled=False, by=None
    )
    row = WebhookDelivery(
        endpoint_id=endpoint.id, event_id=1, topic="order.created", message_id="msg_x", body="{}"
    )
    db.session.add(row)
    db.session.commit()
    response = client.post(f"{PAGE}/{endpoint.id}/deliveries/{row.id}/redeliver")
    assert response.status_code == 409
    assert "Enable the endpoint first" in response.get_data(as_text=True)


def test_other_roles_are_refused(client, login):
    login("merchandiser")
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"url": "https://x.example"}).status_code == 403


def test_the_admins_dashboard_names_a_disabled_endpoint(client, login, make_staff):
    from commerce.webhooks.services import create_endpoint

    endpoint = create_endpoint(url="https://erp.example/hooks", topics=["order.paid"], by=None)
    endpoint.enabled = False
    endpoint.disabled_reason = "Disabled automatically after 20 failed deliveries in a row."
    db.session.commit()
    login("admin")
    page = client.get("/console/").get_data(as_text=True)
    assert 'id="webhooks-disabled"' in page and "erp.example/hooks" in page
