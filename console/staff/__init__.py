"""Staff: people, roles and invitations; Admin API tokens.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console import account, two_factor
from console.permissions import Route
from console.staff import tokens, views

ROUTES = [
    # views
    Route("/staff", views.staff_list, "staff.manage"),
    Route("/staff/new", views.staff_new, "staff.manage", methods=["GET", "POST"]),
    Route("/staff/<int:staff_id>", views.staff_detail, "staff.manage"),
    Route("/staff/<int:staff_id>/role", views.staff_role, "staff.manage", methods=["POST"]),
    Route(
        "/staff/<int:staff_id>/deactivate", views.staff_deactivate, "staff.manage", methods=["POST"]
    ),
    Route(
        "/staff/<int:staff_id>/reactivate", views.staff_reactivate, "staff.manage", methods=["POST"]
    ),
    # A member's sessions and second factor (views beside one's own: console/account.py,
    # console/two_factor.py)
    Route(
        "/staff/<int:staff_id>/sessions/end",
        account.staff_sessions_end,
        "staff.manage",
        methods=["POST"],
    ),
    Route(
        "/staff/<int:staff_id>/two-factor/reset",
        two_factor.staff_two_factor_reset,
        "staff.manage",
        methods=["POST"],
    ),
    # API tokens (the secret is shown once, on the page the creation answers)
    Route("/staff/api-tokens", tokens.api_tokens, "staff.manage"),
    Route(
        "/staff/api-tokens",
        tokens.api_token_create,
        "staff.manage",
        methods=["POST"],
        endpoint="api_token_create",
    ),
    Route(
        "/staff/api-tokens/<int:token_id>/revoke",
        tokens.api_token_revoke,
        "staff.manage",
        methods=["POST"],
    ),
]
