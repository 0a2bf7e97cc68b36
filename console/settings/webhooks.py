"""Settings → Webhooks: endpoints subscribed to topics, their signing secret and its rotation,
and each endpoint's delivery log with manual redelivery (admins: settings.manage)."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from commerce.errors import NotFound
from commerce.webhooks.payloads import TOPICS
from commerce.webhooks.services import (
    create_endpoint,
    delete_endpoint,
    delivery_counts,
    endpoint_deliveries,
    get_delivery,
    get_endpoint,
    list_endpoints,
    redeliver,
    rotate_secret,
    update_endpoint,
)
from console.forms import ConfirmForm
from console.web import done
from web.forms import form_status, submit
from web.pages import render


class EndpointForm(FlaskForm):
    url = StringField("URL", validators=[Optional(), Length(max=2000)])
    description = StringField("Description", validators=[Optional(), Length(max=255)])
    topics = SelectMultipleField(
        "Topics",
        choices=[(topic, f"{topic}: {label}") for topic, label in TOPICS.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )
    enabled = BooleanField("Enabled", default=True)


def _values(form: EndpointForm) -> dict[str, Any]:
    return {
        "url": form.url.data or "",
        "description": form.description.data or "",
        "topics": list(form.topics.data or []),
        "enabled": bool(form.enabled.data),
    }


def webhook_list() -> Any:
    form = EndpointForm()
    if request.method == "POST":
        sent = submit(form, lambda: create_endpoint(by=current_user, **_values(form)))
        if sent.ok:
            return done(
                f"Webhook endpoint {sent.value.url} created.",
                url_for("console.webhook_edit", endpoint_id=sent.value.id),
            )
    return render(
        "console/settings/webhooks.html",
        endpoints=list_endpoints(),
        form=form,
        status=form_status(),
    )


def webhook_edit(endpoint_id: int) -> Any:
    endpoint = get_endpoint(endpoint_id)
    if request.method == "GET":
        form = EndpointForm(obj=endpoint, formdata=None)
    else:
        form = EndpointForm()
        sent = submit(form, lambda: update_endpoint(endpoint, by=current_user, **_values(form)))
        if sent.ok:
            return done(
                f"Webhook endpoint {endpoint.url} saved.",
                url_for("console.webhook_edit", endpoint_id=endpoint.id),
            )
    return render(
        "console/settings/webhook.html",
        endpoint=endpoint,
        form=form,
        confirm=ConfirmForm(),
        deliveries=endpoint_deliveries(endpoint.id),
        counts=delivery_counts(endpoint.id),
        status=form_status(),
    )


def webhook_rotate(endpoint_id: int) -> Any:
    endpoint = get_endpoint(endpoint_id)
    ConfirmForm().validate_on_submit()
    rotate_secret(endpoint, by=current_user)
    return done(
        "A new secret signs from now on; the old one signs alongside it for 24 hours.",
        url_for("console.webhook_edit", endpoint_id=endpoint.id),
    )


def webhook_delete(endpoint_id: int) -> Any:
    endpoint = get_endpoint(endpoint_id)
    ConfirmForm().validate_on_submit()
    url = endpoint.url
    delete_endpoint(endpoint, by=current_user)
    return done(f"Webhook endpoint {url} removed.", url_for("console.webhook_list"))


def webhook_redeliver(endpoint_id: int, delivery_id: int) -> Any:
    endpoint = get_endpoint(endpoint_id)
    delivery = get_delivery(delivery_id)
    ConfirmForm().validate_on_submit()
    if delivery.endpoint_id != endpoint.id:
        raise NotFound("No such webhook delivery.")
    redeliver(delivery, by=current_user)
    return done(
        f"Delivery {delivery.message_id} is being sent again.",
        url_for("console.webhook_edit", endpoint_id=endpoint.id),
    )
