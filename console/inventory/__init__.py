"""Inventory: the stock overview, receiving by scan, transfers, counts and locations.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.inventory import count_scan, counts, scan, stock, transfers, unavailable
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
    # the single-variant transfer, booked at once (a shortcut beside the transfer documents)
    Route(
        "/inventory/transfers/quick",
        scan.transfer_list,
        "inventory.view",
        endpoint="transfer_quick",
    ),
    Route(
        "/inventory/transfers/quick",
        scan.transfer_create,
        "inventory.edit",
        methods=["POST"],
        endpoint="transfer_create",
    ),
    Route("/inventory/transfers/moves/<int:movement_id>", scan.transfer_detail, "inventory.view"),
    # transfer documents: draft, ship, receive at the destination
    Route("/inventory/transfers", transfers.transfer_list, "inventory.view"),
    Route("/inventory/transfers/new", transfers.transfer_new, "inventory.edit"),
    Route(
        "/inventory/transfers/new",
        transfers.transfer_new_post,
        "inventory.edit",
        methods=["POST"],
        endpoint="transfer_new_post",
    ),
    Route("/inventory/transfers/<int:transfer_id>", transfers.transfer_page, "inventory.view"),
    Route(
        "/inventory/transfers/<int:transfer_id>/lines",
        transfers.transfer_add,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/quantities",
        transfers.transfer_quantities,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/ship",
        transfers.transfer_ship,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/cancel",
        transfers.transfer_cancel,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/receive",
        transfers.transfer_receive,
        "inventory.view",
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/receive",
        transfers.transfer_receive_post,
        "inventory.edit",
        methods=["POST"],
        endpoint="transfer_receive_post",
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/finish",
        transfers.transfer_finish,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/packing-list",
        transfers.transfer_packing_list,
        "inventory.view",
    ),
    Route(
        "/inventory/transfers/<int:transfer_id>/packing-list.pdf",
        transfers.transfer_packing_list_pdf,
        "inventory.view",
    ),
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
    # counts by scanning
    Route(
        "/inventory/counts/sessions",
        count_scan.count_session_start,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/counts/sessions/<int:count_id>", count_scan.count_session_page, "inventory.view"
    ),
    Route(
        "/inventory/counts/sessions/<int:count_id>/scan",
        count_scan.count_session_scan,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/counts/sessions/<int:count_id>/review",
        count_scan.count_session_review,
        "inventory.view",
    ),
    Route(
        "/inventory/counts/sessions/<int:count_id>/apply",
        count_scan.count_session_apply,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/inventory/counts/sessions/<int:count_id>/abandon",
        count_scan.count_session_abandon,
        "inventory.edit",
        methods=["POST"],
    ),
]
