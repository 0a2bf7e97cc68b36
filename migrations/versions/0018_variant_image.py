"""a variant's own image (Shopify's Variant Image), among its product's images

Revision ID: 0018_variant_image
Revises: 0017_guest_buyers
Create Date: 2026-12-07 16:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018_variant_image"
down_revision = "0017_guest_buyers"
branch_labels = None
depends_on = None


def upgrade():
    # No foreign key: on SQLite it would mean copying the table (losing its expression
    # indexes); deleting an image clears the variants that show it (catalog.media).
    op.add_column("variant", sa.Column("image_id", sa.Integer(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE variant DROP COLUMN image_id")
