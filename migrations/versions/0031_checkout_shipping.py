"""Checkout: a cart restored by an abandoned checkout's recovery link remembers that checkout.

- cart.recovered_checkout_id: the abandoned checkout the recovery link restored the cart
  from; the cart's next checkout starts prefilled from it (email, and the address and
  shipping method while they are still valid), then the mark is cleared. No foreign key:
  checkout already references cart, and a vanished checkout only means nothing to prefill.

Revision ID: 0031_checkout_shipping
Revises: 0030_gift_card_codes
Create Date: 2026-12-07 21:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0031_checkout_shipping"
down_revision = "0030_gift_card_codes"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("cart", sa.Column("recovered_checkout_id", sa.Integer(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE cart DROP COLUMN recovered_checkout_id")
