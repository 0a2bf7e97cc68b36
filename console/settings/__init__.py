"""Settings: shipping, tax, the shop's settings, the checkout queue and webhooks.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.permissions import Route
from console.settings import checkout_queue, views, webhooks

ROUTES = [
    # views
    Route("/settings/shipping", views.shipping_list, "settings.manage"),
    Route("/settings/shipping/new", views.shipping_new, "settings.manage", methods=["GET", "POST"]),
    Route(
        "/settings/shipping/<int:method_id>/edit",
        views.shipping_edit,
        "settings.manage",
        methods=["GET", "POST"],
    ),
    Route(
        "/settings/shipping/<int:method_id>/deactivate",
        views.shipping_deactivate,
        "settings.manage",
        methods=["POST"],
    ),
    Route("/settings/taxes", views.tax_rate_list, "settings.manage"),
    Route("/settings/taxes/new", views.tax_rate_new, "settings.manage", methods=["GET", "POST"]),
    Route(
        "/settings/taxes/<int:rate_id>/edit",
        views.tax_rate_edit,
        "settings.manage",
        methods=["GET", "POST"],
    ),
    Route(
        "/settings/taxes/<int:rate_id>/deactivate",
        views.tax_rate_deactivate,
        "settings.manage",
        methods=["POST"],
    ),
    # checkout_queue
    Route(
        "/settings/checkout-queue",
        checkout_queue.checkout_queue_settings,
        "settings.manage",
        methods=["GET", "POST"],
    ),
    Route("/dashboard/checkout-queue", checkout_queue.dashboard_checkout_queue, "settings.manage"),
    # webhooks
    Route("/settings/webhooks", webhooks.webhook_list, "settings.manage", methods=["GET", "POST"]),
    Route(
        "/settings/webhooks/<int:endpoint_id>",
        webhooks.webhook_edit,
        "settings.manage",
        methods=["GET", "POST"],
    ),
    Route(
        "/settings/webhooks/<int:endpoint_id>/rotate",
        webhooks.webhook_rotate,
        "settings.manage",
        methods=["POST"],
    ),
    Route(
        "/settings/webhooks/<int:endpoint_id>/delete",
        webhooks.webhook_delete,
        "settings.manage",
        methods=["POST"],
    ),
    Route(
        "/settings/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        webhooks.webhook_redeliver,
        "settings.manage",
        methods=["POST"],
    ),
]
