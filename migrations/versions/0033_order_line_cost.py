"""The cost of what an order line sold: order_line.unit_cost, the variant's average unit cost
(a bundle's: its components') when the order was placed, so reports' margins stay as they
were when later receipts move the average. NULL where no cost was known, and on lines placed
before this revision (reports value those at the variant's average cost today).

Plain ADD COLUMN (no batch copy: SQLite would lose the table's expression indexes).

Revision ID: 0033_order_line_cost
Revises: 0032_draft_custom_lines
Create Date: 2026-12-07 22:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0033_order_line_cost"
down_revision = "0032_draft_custom_lines"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("order_line", sa.Column("unit_cost", sa.Integer(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE order_line DROP COLUMN unit_cost")
