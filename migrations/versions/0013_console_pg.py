"""console lists on PostgreSQL: the variant index by product holds the variant's id and SKU

Revision ID: 0013_console_pg
Revises: 0012_console_lists
Create Date: 2026-12-07 15:00:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0013_console_pg"
down_revision = "0012_console_lists"
branch_labels = None
depends_on = None


def upgrade():
    # The stock overview's quick search and category filter sort their matching variants by
    # SKU before reading any level: a product's variants and their SKUs are read from this
    # index alone (an index-only scan), not from the variant table. SQLite keeps its index
    # (it has no INCLUDE; its plans walk the SKU order instead).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_variant_product", table_name="variant")
        op.create_index(
            "ix_variant_product",
            "variant",
            ["product_id", "position"],
            unique=False,
            postgresql_include=["id", "sku"],
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_variant_product", table_name="variant")
        op.create_index("ix_variant_product", "variant", ["product_id", "position"], unique=False)
