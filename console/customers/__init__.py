"""Customers: the list and a customer's page.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.customers import views
from console.permissions import Route

ROUTES = [
    # views
    Route("/customers", views.customer_list, "orders.view"),
    Route("/customers/<int:customer_id>", views.customer_detail, "orders.view"),
    Route(
        "/customers/<int:customer_id>/tags", views.customer_tags, "orders.edit", methods=["POST"]
    ),
]
