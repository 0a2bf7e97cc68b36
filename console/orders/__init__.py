"""Orders: the list, an order's page, its money (capture, refunds), exports, documents and payments.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.orders import abandoned, documents, drafts, exports, listing, money, page, payments
from console.permissions import Route

ROUTES = [
    # listing
    Route("/orders", listing.order_list, "orders.view"),
    Route("/orders/presets", listing.order_preset_save, "orders.view", methods=["GET", "POST"]),
    Route(
        "/orders/presets/<int:preset_id>/delete",
        listing.order_preset_delete,
        "orders.view",
        methods=["POST"],
    ),
    Route("/refunds/approvals", listing.refund_approvals, "orders.refund_approve"),
    Route("/returns", listing.return_queue, "orders.view"),
    # page
    Route("/orders/<int:order_id>", page.order_detail, "orders.view"),
    Route(
        "/orders/<int:order_id>/fulfillments",
        page.order_fulfill,
        "orders.fulfill",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/fulfillments/<int:fulfillment_id>/ship",
        page.order_ship,
        "orders.fulfill",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/fulfillments/<int:fulfillment_id>/cancel",
        page.order_fulfillment_cancel,
        "orders.fulfill",
        methods=["POST"],
    ),
    Route("/orders/<int:order_id>/notes", page.order_note, "orders.edit", methods=["POST"]),
    Route("/orders/<int:order_id>/cancel", page.order_cancel, "orders.edit", methods=["POST"]),
    Route("/orders/<int:order_id>/edit", page.order_edit, "orders.edit", methods=["GET", "POST"]),
    # money
    Route(
        "/orders/<int:order_id>/refund",
        money.order_refund,
        "orders.refund",
        methods=["GET", "POST"],
    ),
    Route(
        "/orders/<int:order_id>/refund/total",
        money.order_refund_total,
        "orders.refund",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/refund/confirm",
        money.order_refund_confirm,
        "orders.refund",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/refunds/<int:refund_id>/approve",
        money.refund_approve,
        "orders.refund_approve",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/refunds/<int:refund_id>/reject",
        money.refund_reject,
        "orders.refund_approve",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/refunds/<int:refund_id>/retry",
        money.refund_retry,
        "orders.refund",
        methods=["POST"],
    ),
    Route("/orders/<int:order_id>/returns", money.return_open, "orders.refund", methods=["POST"]),
    Route(
        "/orders/<int:order_id>/returns/<int:return_id>/receive",
        money.return_receive,
        "orders.refund",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/returns/<int:return_id>/cancel",
        money.return_cancel,
        "orders.refund",
        methods=["POST"],
    ),
    # exports
    Route("/orders/export", exports.order_export, "orders.export"),
    Route("/customers/export", exports.customer_export, "orders.export"),
    # documents
    Route("/orders/<int:order_id>/invoice.pdf", documents.order_invoice_pdf, "orders.view"),
    Route(
        "/orders/<int:order_id>/invoice",
        documents.order_invoice_issue,
        "orders.view",
        methods=["POST"],
    ),
    Route(
        "/refunds/<int:refund_id>/credit-note",
        documents.refund_credit_note_issue,
        "orders.view",
        methods=["POST"],
    ),
    Route(
        "/orders/<int:order_id>/packing-slip.pdf", documents.order_packing_slip_pdf, "orders.view"
    ),
    Route(
        "/fulfillments/<int:fulfillment_id>/packing-slip.pdf",
        documents.fulfillment_packing_slip_pdf,
        "orders.view",
    ),
    Route(
        "/refunds/<int:refund_id>/credit-note.pdf", documents.refund_credit_note_pdf, "orders.view"
    ),
    Route(
        "/orders/packing-slips", documents.packing_slips, "orders.fulfill", methods=["GET", "POST"]
    ),
    Route("/orders/packing-slips/<job_id>", documents.packing_slips_job_status, "orders.fulfill"),
    Route(
        "/orders/packing-slips/<job_id>/download",
        documents.packing_slips_download,
        "orders.fulfill",
    ),
    # payments
    Route("/payments/attention", payments.payment_attention, "payments.manage"),
    Route("/payments/recover", payments.payment_recover, "payments.manage", methods=["POST"]),
    Route(
        "/orders/<int:order_id>/capture",
        payments.order_capture,
        "payments.manage",
        methods=["GET", "POST"],
    ),
    # draft orders
    Route("/orders/drafts", drafts.draft_list, "orders.drafts"),
    Route("/orders/drafts/new", drafts.draft_create, "orders.drafts", methods=["POST"]),
    Route("/orders/drafts/customers", drafts.draft_customers, "orders.drafts"),
    Route("/orders/drafts/<int:draft_id>", drafts.draft_detail, "orders.drafts"),
    Route("/orders/drafts/<int:draft_id>/variants", drafts.draft_variants, "orders.drafts"),
    *(
        Route(
            f"/orders/drafts/<int:draft_id>/{path}",
            view,
            "orders.drafts",
            methods=["POST"],
        )
        for path, view in (
            ("customer", drafts.draft_customer),
            ("lines", drafts.draft_line_add),
            ("lines/quantity", drafts.draft_line_quantity),
            ("custom-lines", drafts.draft_custom_add),
            ("custom-lines/update", drafts.draft_custom_update),
            ("shipping", drafts.draft_shipping),
            ("discount", drafts.draft_discount),
            ("code", drafts.draft_code),
            ("reserve", drafts.draft_reserve),
            ("release", drafts.draft_release),
            ("invoice", drafts.draft_invoice),
            ("duplicate", drafts.draft_duplicate),
        )
    ),
    Route(
        "/orders/drafts/<int:draft_id>/mark-paid",
        drafts.draft_mark_paid,
        "orders.mark_paid",
        methods=["POST"],
    ),
    # abandoned checkouts
    Route("/orders/abandoned", abandoned.abandoned_list, "orders.view"),
    Route(
        "/settings/recovery",
        abandoned.recovery_settings_page,
        "settings.manage",
        methods=["GET", "POST"],
    ),
]
