"""Catalog: products and their variants, media, CSV import, categories and collections.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.catalog import bulk_grid, bundles, imports, media, products, taxonomy
from console.permissions import Route

ROUTES = [
    # products
    Route("/products", products.product_list, "catalog.view"),
    Route("/products/bulk", products.product_bulk, "catalog.bulk_edit", methods=["POST"]),
    # the bulk editor
    Route("/products/grid", bulk_grid.bulk_grid, "catalog.bulk_edit"),
    Route(
        "/products/grid",
        bulk_grid.bulk_grid_save,
        "catalog.bulk_edit",
        methods=["POST"],
        endpoint="bulk_grid_save",
    ),
    Route("/products/bulk-edits", bulk_grid.bulk_edit_list, "catalog.bulk_edit"),
    Route("/products/bulk-edits/<int:batch_id>", bulk_grid.bulk_edit_detail, "catalog.bulk_edit"),
    Route(
        "/products/bulk-edits/<int:batch_id>/undo",
        bulk_grid.bulk_edit_undo,
        "catalog.bulk_edit",
        methods=["POST"],
    ),
    Route("/products/new", products.product_new, "catalog.edit", methods=["GET", "POST"]),
    Route("/products/<int:product_id>", products.product_edit, "catalog.view", methods=["GET"]),
    Route(
        "/products/<int:product_id>",
        products.product_save,
        "catalog.edit",
        methods=["POST"],
        endpoint="product_save",
    ),
    Route(
        "/products/<int:product_id>/delete",
        products.product_delete,
        "catalog.edit",
        methods=["POST"],
    ),
    Route("/products/<int:product_id>/history", products.product_history, "catalog.view"),
    Route(
        "/products/<int:product_id>/options",
        products.product_options,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/products/<int:product_id>/variants/generate",
        products.variants_generate,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/products/<int:product_id>/variants",
        products.variant_add,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/variants/<int:variant_id>/delete",
        products.variant_delete,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/variants/<int:variant_id>/cells/<field>",
        products.variant_cell,
        "catalog.view",
        methods=["GET"],
    ),
    Route(
        "/variants/<int:variant_id>/cells/<field>",
        products.variant_cell_save,
        "catalog.edit",
        methods=["POST"],
        endpoint="variant_cell_save",
    ),
    # bundles: a variant made of components
    Route("/variants/<int:variant_id>/bundle", bundles.bundle_page, "catalog.view"),
    Route(
        "/variants/<int:variant_id>/bundle",
        bundles.bundle_save,
        "catalog.edit",
        methods=["POST"],
        endpoint="bundle_save",
    ),
    # imports
    Route("/products/export", imports.product_export, "catalog.export"),
    Route("/import", imports.import_start, "catalog.import", methods=["GET", "POST"]),
    Route("/import/<upload_id>", imports.import_upload, "catalog.import", methods=["GET"]),
    Route("/import/<upload_id>/apply", imports.import_apply, "catalog.import", methods=["POST"]),
    # media
    Route("/products/<int:product_id>/media", media.media_upload, "catalog.edit", methods=["POST"]),
    Route("/media/<int:media_id>/alt", media.media_alt, "catalog.edit", methods=["POST"]),
    Route("/media/<int:media_id>/move", media.media_move, "catalog.edit", methods=["POST"]),
    Route("/media/<int:media_id>/delete", media.media_delete, "catalog.edit", methods=["POST"]),
    # taxonomy
    Route("/categories", taxonomy.category_list, "catalog.view"),
    Route("/categories/new", taxonomy.category_new, "catalog.edit", methods=["GET", "POST"]),
    Route(
        "/categories/<int:category_id>",
        taxonomy.category_edit,
        "catalog.edit",
        methods=["GET", "POST"],
    ),
    Route(
        "/categories/<int:category_id>/delete",
        taxonomy.category_delete,
        "catalog.edit",
        methods=["POST"],
    ),
    Route("/collections", taxonomy.collection_list, "catalog.view"),
    Route("/collections/new", taxonomy.collection_new, "catalog.edit", methods=["GET", "POST"]),
    Route(
        "/collections/<int:collection_id>",
        taxonomy.collection_edit,
        "catalog.view",
        methods=["GET"],
    ),
    Route(
        "/collections/<int:collection_id>",
        taxonomy.collection_save,
        "catalog.edit",
        methods=["POST"],
        endpoint="collection_save",
    ),
    Route(
        "/collections/<int:collection_id>/delete",
        taxonomy.collection_delete,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/collections/<int:collection_id>/products",
        taxonomy.collection_products,
        "catalog.edit",
        methods=["POST"],
    ),
    Route("/collections/<int:collection_id>/picker", taxonomy.collection_picker, "catalog.edit"),
    Route(
        "/collections/<int:collection_id>/sort",
        taxonomy.collection_sort,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/collections/<int:collection_id>/order",
        taxonomy.collection_order,
        "catalog.edit",
        methods=["POST"],
    ),
    Route("/collections/<int:collection_id>/members", taxonomy.collection_members, "catalog.view"),
    Route(
        "/collections/<int:collection_id>/pins",
        taxonomy.collection_pins,
        "catalog.edit",
        methods=["POST"],
    ),
    Route(
        "/collections/<int:collection_id>/pin-picker",
        taxonomy.collection_pin_picker,
        "catalog.edit",
    ),
    Route("/collections/<int:collection_id>/preview", taxonomy.collection_preview, "catalog.view"),
]
