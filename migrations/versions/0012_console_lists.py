"""console lists at 50,000 products: orders by payment and fulfilment status, SKUs by prefix,
the quick search's trigram tables on SQLite

Revision ID: 0012_console_lists
Revises: 0011_search
Create Date: 2026-12-07 14:00:00

"""

from alembic import op
import sqlalchemy as sa


# The console's quick search on SQLite (commerce/catalog/quick_search.py, copied here as it
# stands at this revision): FTS5 trigram tables kept by triggers, answering LIKE '%...%'.
QUICK_SEARCH_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS console_trgm_product"
    " USING fts5(title, handle, vendor, tokenize='trigram')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS console_trgm_variant USING fts5(sku, tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_product_ai AFTER INSERT ON product BEGIN"
    " INSERT INTO console_trgm_product(rowid, title, handle, vendor)"
    " VALUES (new.id, new.title, new.handle, new.vendor); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_product_au"
    " AFTER UPDATE OF id, title, handle, vendor ON product BEGIN"
    " DELETE FROM console_trgm_product WHERE rowid = old.id;"
    " INSERT INTO console_trgm_product(rowid, title, handle, vendor)"
    " VALUES (new.id, new.title, new.handle, new.vendor); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_product_ad AFTER DELETE ON product BEGIN"
    " DELETE FROM console_trgm_product WHERE rowid = old.id; END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_variant_ai AFTER INSERT ON variant BEGIN"
    " INSERT INTO console_trgm_variant(rowid, sku) VALUES (new.id, new.sku); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_variant_au AFTER UPDATE OF id, sku ON variant BEGIN"
    " DELETE FROM console_trgm_variant WHERE rowid = old.id;"
    " INSERT INTO console_trgm_variant(rowid, sku) VALUES (new.id, new.sku); END",
    "CREATE TRIGGER IF NOT EXISTS console_trgm_variant_ad AFTER DELETE ON variant BEGIN"
    " DELETE FROM console_trgm_variant WHERE rowid = old.id; END",
    "INSERT INTO console_trgm_product(rowid, title, handle, vendor)"
    " SELECT id, title, handle, vendor FROM product",
    "INSERT INTO console_trgm_variant(rowid, sku) SELECT id, sku FROM variant",
]
QUICK_SEARCH_DROP = [
    *(
        f"DROP TRIGGER IF EXISTS console_trgm_{table}_{when}"
        for table in ("product", "variant")
        for when in ("ai", "au", "ad")
    ),
    "DROP TABLE IF EXISTS console_trgm_product",
    "DROP TABLE IF EXISTS console_trgm_variant",
]

# revision identifiers, used by Alembic.
revision = "0012_console_lists"
down_revision = "0011_search"
branch_labels = None
depends_on = None


def upgrade():
    # The orders list's "paid and unfulfilled" (its count read every paid order's row).
    op.create_index(
        "ix_shop_order_payment_fulfillment",
        "shop_order",
        ["payment_status", "fulfillment_status", "placed_at", "id"],
        unique=False,
    )
    # Ctrl+K's SKU prefix, compared without case: a range on lower(sku).
    op.create_index("ix_variant_sku_lower", "variant", [sa.text("lower(sku)")], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in QUICK_SEARCH_DDL:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # Derived data (the catalog's own text): dropped without the row guard.
        for statement in QUICK_SEARCH_DROP:
            op.execute(statement)
    op.drop_index("ix_variant_sku_lower", table_name="variant")
    op.drop_index("ix_shop_order_payment_fulfillment", table_name="shop_order")
