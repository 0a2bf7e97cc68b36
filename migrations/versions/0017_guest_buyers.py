"""guest buyers in Customers: a partial index of orders placed without an account, by email

Revision ID: 0017_guest_buyers
Revises: 0016_auth_sessions
Create Date: 2026-12-07 16:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_guest_buyers"
down_revision = "0016_auth_sessions"
branch_labels = None
depends_on = None

GUESTS = sa.text("customer_id IS NULL")


def upgrade():
    op.create_index(
        "ix_shop_order_guest",
        "shop_order",
        ["email", "placed_at"],
        unique=False,
        sqlite_where=GUESTS,
        postgresql_where=GUESTS,
    )


def downgrade():
    op.drop_index("ix_shop_order_guest", table_name="shop_order")
