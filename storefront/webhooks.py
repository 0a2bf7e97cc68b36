"""Payment provider webhooks: machine-to-machine, so no session, no CSRF token, no cache.

The signature (checked by the provider adapter) is the authentication; events apply once per
event id, so a provider retrying a delivery is harmless.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from commerce.errors import NotFound, WebhookRejected
from commerce.extensions import csrf
from commerce.payments.services import receive_webhook
from storefront import bp

MAX_BODY = 256 * 1024


@bp.route("/payments/webhooks/<provider>", methods=["POST"])
@csrf.exempt
def payment_webhook(provider: str) -> tuple[Response, int]:
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(error="too large"), 413
    try:
        outcome = receive_webhook(request.headers, request.get_data(cache=False), provider=provider)
    except NotFound:
        return jsonify(error="unknown provider"), 404
    except WebhookRejected as exc:
        return jsonify(error=exc.message, reason=exc.details.get("reason")), 400
    response = jsonify(outcome=outcome)
    response.headers["Cache-Control"] = "no-store"
    return response, 200
