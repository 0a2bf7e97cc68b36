"""money exactly once: checkout claim fencing token, one live checkout per cart, one order
per payment, the provider key of each payment call

Revision ID: 0010_money
Revises: 0009_merchandising
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_money'
down_revision = '0010_workers'
branch_labels = None
depends_on = None

LIVE = "status IN ('open', 'placing')"


def upgrade():
    with op.batch_alter_table('checkout') as batch:
        batch.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
    # Before the guard: a cart left with several live checkouts (the duplicate-order bug this
    # revision closes) keeps its newest one; the older ones are abandoned (their holds expire,
    # and the payment recovery task voids any authorization they hold without an order).
    op.execute(
        "UPDATE checkout SET status = 'abandoned' WHERE cart_id IS NOT NULL AND "
        f"{LIVE} AND id < (SELECT MAX(c2.id) FROM checkout c2 "
        f"WHERE c2.cart_id = checkout.cart_id AND c2.{LIVE})"
    )
    op.create_index(
        'ux_checkout_live_cart',
        'checkout',
        ['cart_id'],
        unique=True,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    op.create_index('ux_shop_order_payment', 'shop_order', ['payment_id'], unique=True)
    with op.batch_alter_table('payment_transaction') as batch:
        batch.add_column(sa.Column('provider_key', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('payment_transaction') as batch:
        batch.drop_column('provider_key')
    op.drop_index('ux_shop_order_payment', table_name='shop_order')
    op.drop_index('ux_checkout_live_cart', table_name='checkout')
    with op.batch_alter_table('checkout') as batch:
        batch.drop_column('claim_token')
