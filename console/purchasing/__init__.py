"""Purchasing: suppliers, purchase orders (and their PDF), receiving against a PO by scanning,
reorder suggestions, the shop's "Back soon" setting.

The area's URLs (below /console), the view answering each and the permission it needs.
Viewing needs inventory.view; changing POs and suppliers and receiving inventory.edit."""

from console.permissions import Route
from console.purchasing import orders, receiving, reorder, suppliers

ROUTES = [
    # orders
    Route("/purchasing/orders", orders.po_list, "inventory.view"),
    Route("/purchasing/orders/new", orders.po_new, "inventory.edit", methods=["GET", "POST"]),
    Route("/purchasing/orders/<int:po_id>", orders.po_detail, "inventory.view"),
    Route("/purchasing/orders/<int:po_id>.pdf", orders.po_pdf, "inventory.view"),
    Route(
        "/purchasing/orders/<int:po_id>/lines",
        orders.po_add_line,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/purchasing/orders/<int:po_id>/details",
        orders.po_update,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/purchasing/orders/<int:po_id>/order", orders.po_order, "inventory.edit", methods=["POST"]
    ),
    Route(
        "/purchasing/orders/<int:po_id>/cancel",
        orders.po_cancel,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/purchasing/lines/<int:line_id>", orders.po_change_line, "inventory.edit", methods=["POST"]
    ),
    Route(
        "/purchasing/lines/<int:line_id>/remove",
        orders.po_remove_line,
        "inventory.edit",
        methods=["POST"],
    ),
    Route(
        "/purchasing/settings",
        orders.purchasing_shop_settings,
        "settings.manage",
        methods=["POST"],
    ),
    Route(
        "/purchasing/orders/<int:po_id>/send", orders.po_send, "inventory.edit", methods=["POST"]
    ),
    # receiving
    Route("/inventory/receive/po", receiving.po_receive_pick, "inventory.view"),
    Route("/purchasing/orders/<int:po_id>/receive", receiving.po_receive, "inventory.view"),
    Route(
        "/purchasing/orders/<int:po_id>/receive",
        receiving.po_receive_post,
        "inventory.edit",
        methods=["POST"],
        endpoint="po_receive_post",
    ),
    # suppliers
    Route("/purchasing/suppliers", suppliers.supplier_list, "inventory.view"),
    Route(
        "/purchasing/suppliers/new",
        suppliers.supplier_new,
        "inventory.edit",
        methods=["GET", "POST"],
    ),
    Route(
        "/purchasing/suppliers/<int:supplier_id>/edit",
        suppliers.supplier_edit,
        "inventory.edit",
        methods=["GET", "POST"],
    ),
    Route(
        "/purchasing/variants/<int:variant_id>/supplier",
        suppliers.variant_supplier,
        "inventory.edit",
        methods=["POST"],
    ),
    # reorder
    Route("/purchasing/reorder", reorder.reorder_list, "inventory.view"),
    Route(
        "/purchasing/reorder",
        reorder.reorder_create,
        "inventory.edit",
        methods=["POST"],
        endpoint="reorder_create",
    ),
]
