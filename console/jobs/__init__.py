"""Jobs: background work and its progress.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.jobs import views
from console.permissions import Route

ROUTES = [
    # views
    Route("/jobs/<job_id>", views.job_status, "dashboard.view"),
    # "Run again" of each kind of job that can stop
    *(
        Route(rule, views.run_again_view(kind), permission, methods=["POST"])
        for kind, (rule, permission) in views.RUN_AGAIN.items()
    ),
]
