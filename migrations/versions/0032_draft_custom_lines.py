"""Draft orders' custom lines, and their order lines.

- draft_order.custom_lines, checkout.custom_lines: a draft's custom items (JSON), copied to the
  checkout the customer pays through (the shop's carts never have any);
- order_line.is_custom, order_line.requires_shipping, order_line.taxable: a custom item on
  the order (no stock), whether it ships, whether tax applies (an order edit reprices it).

Plain ADD COLUMN (no batch copy: SQLite would lose the tables' expression indexes).

Revision ID: 0032_draft_custom_lines
Revises: 0031_checkout_shipping
Create Date: 2026-12-07 21:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0032_draft_custom_lines"
down_revision = "0031_checkout_shipping"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "draft_order", sa.Column("custom_lines", sa.JSON(), server_default="[]", nullable=False)
    )
    op.add_column(
        "checkout", sa.Column("custom_lines", sa.JSON(), server_default="[]", nullable=False)
    )
    op.add_column(
        "order_line", sa.Column("is_custom", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "order_line",
        sa.Column("requires_shipping", sa.Boolean(), server_default="1", nullable=False),
    )
    op.add_column(
        "order_line", sa.Column("taxable", sa.Boolean(), server_default="1", nullable=False)
    )


def downgrade():
    op.execute("ALTER TABLE order_line DROP COLUMN taxable")
    op.execute("ALTER TABLE order_line DROP COLUMN requires_shipping")
    op.execute("ALTER TABLE order_line DROP COLUMN is_custom")
    op.execute("ALTER TABLE checkout DROP COLUMN custom_lines")
    op.execute("ALTER TABLE draft_order DROP COLUMN custom_lines")
