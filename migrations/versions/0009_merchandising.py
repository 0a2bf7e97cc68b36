"""merchandising: boost/bury conditions on search rules, collection sort and pins, search
analytics events

Revision ID: 0009_merchandising
Revises: 0008_search
Create Date: 2026-11-24 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_merchandising'
down_revision = '0008_search'
branch_labels = None
depends_on = None

SORTS = "'manual', 'best-selling', 'newest', 'price-asc', 'price-desc', 'title'"


def upgrade():
    with op.batch_alter_table('search_rule') as batch:
        batch.add_column(sa.Column('boosts', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('collection') as batch:
        batch.add_column(
            sa.Column('sort', sa.String(length=20), nullable=False, server_default='manual')
        )
        batch.add_column(sa.Column('pinned_ids', sa.JSON(), nullable=False, server_default='[]'))
        batch.create_check_constraint(op.f('ck_collection_sort_known'), f"sort IN ({SORTS})")
    # Rule-based collections have no hand-made positions: they open on their newest products.
    op.execute("UPDATE collection SET sort = 'newest' WHERE kind = 'rule'")
    op.create_table('search_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('query', sa.String(length=200), nullable=False),
    sa.Column('results', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('visitor', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('search', 'click')", name=op.f('ck_search_event_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_event'))
    )
    with op.batch_alter_table('search_event', schema=None) as batch_op:
        batch_op.create_index('ix_search_event_created', ['created_at'], unique=False)
        batch_op.create_index('ix_search_event_query', ['query', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('search_event', schema=None) as batch_op:
        batch_op.drop_index('ix_search_event_query')
        batch_op.drop_index('ix_search_event_created')
    op.drop_table('search_event')
    with op.batch_alter_table('collection') as batch:
        batch.drop_constraint(op.f('ck_collection_sort_known'), type_='check')
        batch.drop_column('pinned_ids')
        batch.drop_column('sort')
    with op.batch_alter_table('search_rule') as batch:
        batch.drop_column('boosts')
