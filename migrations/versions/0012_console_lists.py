"""console lists at 50,000 products: orders by payment and fulfilment status, SKUs by prefix

Revision ID: 0012_console_lists
Revises: 0011_search
Create Date: 2026-12-07 14:00:00

"""

from alembic import op
import sqlalchemy as sa


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


def downgrade():
    op.drop_index("ix_variant_sku_lower", table_name="variant")
    op.drop_index("ix_shop_order_payment_fulfillment", table_name="shop_order")
