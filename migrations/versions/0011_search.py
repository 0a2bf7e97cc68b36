"""search at catalog scale: in-row lexemes and title lexemes (PostgreSQL), a rank index that
relevance walks, the vocabulary revision of a generation, and console list indexes

Revision ID: 0011_search
Revises: 0010_money
Create Date: 2026-12-07 11:00:00

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0011_search"
down_revision = "0010_money"
branch_labels = None
depends_on = None

TSVECTOR = sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql")
RANK = ["generation_id", "popularity", "product_id", "price_min", "price_max", "in_stock"]
# Console lists at 50,000 products: an index per keyset order the lists page by.
CONSOLE_INDEXES = [
    ('ix_stock_level_updated', 'stock_level', ['updated_at', 'id']),
    ('ix_stock_level_on_hand', 'stock_level', ['on_hand', 'id']),
    ('ix_product_status_updated', 'product', ['status', 'updated_at', 'id']),
    ('ix_shop_order_payment_status', 'shop_order', ['payment_status', 'placed_at', 'id']),
    ('ix_shop_order_status_cancelled', 'shop_order', ['status', 'cancelled_at', 'id']),
    ('ix_shop_order_status_fulfillment', 'shop_order', ['status', 'fulfillment_status']),
]

# The console's quick search ("contains"): pg_trgm answers ILIKE '%...%' (a plain index on
# SQLite, where nothing answers it).
TRIGRAM_INDEXES = [
    ('ix_product_title_trgm', 'product', 'title'),
    ('ix_product_handle_trgm', 'product', 'handle'),
    ('ix_product_vendor_trgm', 'product', 'vendor'),
    ('ix_variant_sku_trgm', 'variant', 'sku'),
]


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("search_generation") as batch:
        batch.add_column(
            sa.Column("vocabulary_revision", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("search_document") as batch:
        batch.add_column(sa.Column("lexemes", TSVECTOR, nullable=True))
        batch.add_column(sa.Column("title_lexemes", TSVECTOR, nullable=True))
        batch.drop_index("ix_search_document_popularity")
        batch.drop_index("ix_search_document_tsv", postgresql_using="gin")
        batch.create_index("ix_search_document_rank", RANK, unique=False)
    if postgres:
        # Kept in the row (compressed if need be), never in TOAST: matching reads them per row.
        op.execute("ALTER TABLE search_document ALTER COLUMN lexemes SET STORAGE MAIN")
        op.execute("ALTER TABLE search_document ALTER COLUMN title_lexemes SET STORAGE MAIN")
        op.execute(
            "UPDATE search_document SET lexemes = strip(tsv), "
            "title_lexemes = strip(to_tsvector('simple'::regconfig, title))"
        )
    with op.batch_alter_table("search_document") as batch:
        batch.create_index(
            "ix_search_document_lexemes", ["lexemes"], unique=False, postgresql_using="gin"
        )
        batch.create_index(
            "ix_search_document_title_lexemes",
            ["title_lexemes"],
            unique=False,
            postgresql_using="gin",
        )
    for name, table, columns in CONSOLE_INDEXES:
        op.create_index(name, table, columns, unique=False)
    # The stock overview's default order (SKU, blank SKUs first): an expression index, so
    # PostgreSQL reads the page in order (SQLite's planner, without statistics, does not).
    op.create_index(
        'ix_variant_sku_sort', 'variant', [sa.text("coalesce(sku, '')"), 'id'], unique=False
    )
    op.create_index('ix_order_line_sku', 'order_line', [sa.text('lower(sku)')], unique=False)
    # The stock overview by "available" (on hand less allocated and reserved): read in order.
    op.create_index(
        'ix_stock_level_available',
        'stock_level',
        [sa.text('(on_hand - allocated - reserved)'), 'id'],
        unique=False,
    )
    if postgres:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for name, table, column in TRIGRAM_INDEXES:
        op.create_index(
            name,
            table,
            [column],
            unique=False,
            postgresql_using='gin',
            postgresql_ops={column: 'gin_trgm_ops'},
        )


def downgrade():
    op.drop_index('ix_stock_level_available', table_name='stock_level')
    op.drop_index('ix_order_line_sku', table_name='order_line')
    op.drop_index('ix_variant_sku_sort', table_name='variant')
    for name, table, column in reversed(TRIGRAM_INDEXES):
        op.drop_index(
            name, table_name=table, postgresql_using='gin', postgresql_ops={column: 'gin_trgm_ops'}
        )
    for name, table, _columns in reversed(CONSOLE_INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("search_document") as batch:
        batch.drop_index("ix_search_document_title_lexemes", postgresql_using="gin")
        batch.drop_index("ix_search_document_lexemes", postgresql_using="gin")
        batch.drop_index("ix_search_document_rank")
        batch.create_index("ix_search_document_tsv", ["tsv"], unique=False, postgresql_using="gin")
        batch.create_index(
            "ix_search_document_popularity", ["generation_id", "popularity"], unique=False
        )
        batch.drop_column("title_lexemes")
        batch.drop_column("lexemes")
    with op.batch_alter_table("search_generation") as batch:
        batch.drop_column("vocabulary_revision")
