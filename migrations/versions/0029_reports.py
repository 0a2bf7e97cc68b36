"""Reports: the indexes their grouped reads walk at tens of thousands of orders.

- ix_shop_order_sales (currency, placed_at, status, subtotal, discount_total, total): each
  bucket of a sales report is one range of it (the shop's currency, the bucket's times), and
  the figures summed are in the index, so the table is not read;
- ix_refund_paid (status, currency, completed_at, amount): refunds paid out per bucket;
- ix_order_line_sales (order_id, product_id, quantity, amount, discount): the rankings sum a
  period's order lines from the index alone.

Revision ID: 0029_reports
Revises: 0028_bundles
Create Date: 2026-12-07 19:00:00

"""

from alembic import op

revision = "0029_reports"
down_revision = "0028_bundles"
branch_labels = None
depends_on = None

SALES = ["currency", "placed_at", "status", "subtotal", "discount_total", "total"]
PAID = ["status", "currency", "completed_at", "amount"]
LINES = ["order_id", "product_id", "quantity", "amount", "discount"]


def upgrade():
    op.create_index("ix_shop_order_sales", "shop_order", SALES, unique=False)
    op.create_index("ix_refund_paid", "refund", PAID, unique=False)
    op.create_index("ix_order_line_sales", "order_line", LINES, unique=False)


def downgrade():
    op.drop_index("ix_order_line_sales", table_name="order_line")
    op.drop_index("ix_refund_paid", table_name="refund")
    op.drop_index("ix_shop_order_sales", table_name="shop_order")
