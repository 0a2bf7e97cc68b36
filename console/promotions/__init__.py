"""Promotions: the list, the rule builder, coupon codes and the simulator.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.permissions import Route
from console.promotions import views

ROUTES = [
    # views
    Route("/promotions", views.promotion_list, "promotions.view"),
    Route("/promotions/new", views.promotion_new, "promotions.edit", methods=["GET", "POST"]),
    Route("/promotions/<int:promotion_id>", views.promotion_detail, "promotions.view"),
    Route(
        "/promotions/<int:promotion_id>/save",
        views.promotion_save,
        "promotions.edit",
        methods=["POST"],
    ),
    Route("/promotions/rows/<group>", views.promotion_rows, "promotions.edit", methods=["POST"]),
    Route("/promotions/summary", views.promotion_summary, "promotions.edit", methods=["POST"]),
    Route("/promotions/pick", views.promotion_pick, "promotions.view"),
    Route("/promotions/pick/chip", views.promotion_chip, "promotions.view"),
    Route(
        "/promotions/<int:promotion_id>/publish",
        views.promotion_publish,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/pause",
        views.promotion_pause,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/end",
        views.promotion_end,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/duplicate",
        views.promotion_duplicate,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/delete",
        views.promotion_delete,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/codes",
        views.promotion_code_add,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/codes/<int:code_id>/remove",
        views.promotion_code_remove,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/codes/generate",
        views.promotion_codes_generate,
        "promotions.edit",
        methods=["POST"],
    ),
    Route(
        "/promotions/<int:promotion_id>/codes/jobs/<job_id>",
        views.promotion_codes_job,
        "promotions.view",
    ),
    Route("/promotions/<int:promotion_id>/codes.csv", views.promotion_codes_csv, "promotions.view"),
    Route("/promotions/simulator", views.promotion_simulator, "promotions.view"),
]
