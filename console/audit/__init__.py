"""Audit: the log of every staff change.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.audit import views
from console.permissions import Route

ROUTES = [
    # views
    Route("/audit", views.audit_log, "audit.view"),
]
