"""Inventory: the stock overview, receiving by scan, transfers, counts and locations.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.inventory import counts, scan, stock, unavailable
from console.permissions import Route

ROUTES = [
    # stock
    Route("/inventory", stock.stock_overview, "inventory.view"),
    Route("/inventory/export", stock.stock_export, "inventory.view"),
    Route("/inventory/variants/<int:variant_id>", stock.stock_variant, "inventory.view"),
    Route(
        "/inventory/variants/<int:variant_id>/set-aside",
        unavailable.variant_set_aside,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/variants/<int:variant_id>/safety-stock",
        unavailable.variant_safety_stock,
        "inventory.edit",
        methods=["POST"],
    ),
    Route("/inventory/locations", stock.location_list, "inventory.view"),
    Route("/inventory/locations/<int:location_id>", stock.location_detail, "inventory.view"),
    Route(
        "/inventory/locations/new", stock.location_new, "inventory.edit", methods=["GET", "POST"]
    ),
    Route(
        "/inventory/locations/<int:location_id>/edit",
        stock.location_edit,
        "inventory.edit",
        methods=["GET", "POST"],
    ),
    # scan
    Route("/inventory/receive", scan.stock_receive, "inventory.view"),
    Route(
        "/inventory/receive",
        scan.stock_receive_post,
        "inventory.edit",
        methods=["POST"],
        endpoint="stock_receive_post",
    ),
    Route("/inventory/adjust", scan.stock_adjust, "inventory.view"),
    Route(
        "/inventory/adjust",
        scan.stock_adjust_post,
        "inventory.edit",
        methods=["POST"],
        endpoint="stock_adjust_post",
    ),
    Route(
        "/inventory/movements/<int:movement_id>/undo",
        scan.movement_undo,
        "inventory.edit",
        methods=["POST"],
    ),
    Route("/inventory/transfers", scan.transfer_list, "inventory.view"),
    Route(
        "/inventory/transfers",
        scan.transfer_create,
        "inventory.edit",
        methods=["POST"],
        endpoint="transfer_create",
    ),
    Route("/inventory/transfers/<int:movement_id>", scan.transfer_detail, "inventory.view"),
    # counts
    Route("/inventory/counts", counts.count_start, "inventory.view"),
    Route(
        "/inventory/counts",
        counts.count_upload,
        "inventory.edit",
        methods=["POST"],
        endpoint="count_upload",
    ),
    Route("/inventory/counts/book", counts.count_book, "inventory.edit", methods=["POST"]),
]
