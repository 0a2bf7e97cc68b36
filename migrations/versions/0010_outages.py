"""outages: search index changes wait with backoff instead of being dropped

Revision ID: 0010_outages
Revises: 0009_merchandising
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_outages'
down_revision = '0009_merchandising'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('search_pending') as batch:
        batch.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('search_pending') as batch:
        batch.drop_column('next_attempt_at')
