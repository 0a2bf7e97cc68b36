"""search: merchandising settings, synonyms and query rules; index generations, pending
events; the db backend's documents, facet values and vocabulary

The SQLite FTS5 tables (search_fts_<generation>) are created and dropped by the db backend at
run time (Alembic cannot describe virtual tables); downgrade drops any that exist. On
PostgreSQL this installs pg_trgm for the vocabulary's trigram index.

Revision ID: 0008_search
Revises: 0008 (customer tags)
Create Date: 2026-11-24 20:10:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0008_search'
down_revision = '0008'  # customer tags
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Trigram similarity over the search vocabulary (typo tolerance); the GIN index on
        # search_term.term needs its operator class.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('search_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('backend', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('documents', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('building', 'live', 'retired', 'failed')", name=op.f('ck_search_generation_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_generation'))
    )
    with op.batch_alter_table('search_generation', schema=None) as batch_op:
        batch_op.create_index('ix_search_generation_backend', ['backend', 'status'], unique=False)

    op.create_table('search_pending',
    sa.Column('event_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('topic', sa.String(length=80), nullable=False),
    sa.Column('product_ids', sa.JSON(), nullable=False),
    sa.Column('rebuild', sa.Boolean(), nullable=False),
    sa.Column('settings', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_search_pending'))
    )
    with op.batch_alter_table('search_pending', schema=None) as batch_op:
        batch_op.create_index('ix_search_pending_open', ['applied_at', 'event_id'], unique=False)

    op.create_table('search_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stop_words', sa.JSON(), nullable=False),
    sa.Column('typo_enabled', sa.Boolean(), nullable=False),
    sa.Column('typo_one', sa.Integer(), nullable=False),
    sa.Column('typo_two', sa.Integer(), nullable=False),
    sa.Column('typo_disabled_words', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_settings'))
    )
    op.create_table('search_synonym',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('equivalent', 'one_way')", name=op.f('ck_search_synonym_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_synonym'))
    )
    op.create_table('search_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('tsv', sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'), nullable=True),
    sa.Column('price_min', sa.Integer(), nullable=False),
    sa.Column('price_max', sa.Integer(), nullable=False),
    sa.Column('in_stock', sa.Boolean(), nullable=False),
    sa.Column('popularity', sa.Integer(), nullable=False),
    sa.Column('created_ts', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['generation_id'], ['search_generation.id'], name=op.f('fk_search_document_generation_id_search_generation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_document'))
    )
    with op.batch_alter_table('search_document', schema=None) as batch_op:
        batch_op.create_index('ix_search_document_created', ['generation_id', 'created_ts'], unique=False)
        batch_op.create_index('ix_search_document_popularity', ['generation_id', 'popularity'], unique=False)
        batch_op.create_index('ix_search_document_price_max', ['generation_id', 'price_max'], unique=False)
        batch_op.create_index('ix_search_document_price_min', ['generation_id', 'price_min'], unique=False)
        batch_op.create_index('ix_search_document_product', ['generation_id', 'product_id'], unique=True)
        batch_op.create_index('ix_search_document_tsv', ['tsv'], unique=False, postgresql_using='gin')

    op.create_table('search_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query', sa.String(length=120), nullable=False),
    sa.Column('match', sa.String(length=10), nullable=False),
    sa.Column('pinned_ids', sa.JSON(), nullable=False),
    sa.Column('hidden_ids', sa.JSON(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("match IN ('exact', 'contains')", name=op.f('ck_search_rule_match_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_member.id'], name=op.f('fk_search_rule_created_by_id_staff_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_rule'))
    )
    with op.batch_alter_table('search_rule', schema=None) as batch_op:
        batch_op.create_index('ix_search_rule_query', ['query'], unique=False)

    op.create_table('search_term',
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('term', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['generation_id'], ['search_generation.id'], name=op.f('fk_search_term_generation_id_search_generation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('generation_id', 'term', name=op.f('pk_search_term'))
    )
    with op.batch_alter_table('search_term', schema=None) as batch_op:
        batch_op.create_index('ix_search_term_trgm', ['term'], unique=False, postgresql_using='gin', postgresql_ops={'term': 'gin_trgm_ops'})

    op.create_table('search_facet',
    sa.Column('doc_id', sa.Integer(), nullable=False),
    sa.Column('facet', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['doc_id'], ['search_document.id'], name=op.f('fk_search_facet_doc_id_search_document'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('doc_id', 'facet', 'value', name=op.f('pk_search_facet'))
    )
    with op.batch_alter_table('search_facet', schema=None) as batch_op:
        batch_op.create_index('ix_search_facet_value', ['facet', 'value', 'doc_id'], unique=False)



def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # The db backend's FTS5 tables, one per index generation, made at run time.
        names = bind.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'search_fts_[0-9]*'"
            " AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).scalars().all()
        for name in names:
            op.execute(f"DROP TABLE IF EXISTS {name}")
    with op.batch_alter_table('search_facet', schema=None) as batch_op:
        batch_op.drop_index('ix_search_facet_value')

    op.drop_table('search_facet')
    with op.batch_alter_table('search_term', schema=None) as batch_op:
        batch_op.drop_index('ix_search_term_trgm', postgresql_using='gin', postgresql_ops={'term': 'gin_trgm_ops'})

    op.drop_table('search_term')
    with op.batch_alter_table('search_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_search_rule_query')

    op.drop_table('search_rule')
    with op.batch_alter_table('search_document', schema=None) as batch_op:
        batch_op.drop_index('ix_search_document_tsv', postgresql_using='gin')
        batch_op.drop_index('ix_search_document_product')
        batch_op.drop_index('ix_search_document_price_min')
        batch_op.drop_index('ix_search_document_price_max')
        batch_op.drop_index('ix_search_document_popularity')
        batch_op.drop_index('ix_search_document_created')

    op.drop_table('search_document')
    op.drop_table('search_synonym')
    op.drop_table('search_settings')
    with op.batch_alter_table('search_pending', schema=None) as batch_op:
        batch_op.drop_index('ix_search_pending_open')

    op.drop_table('search_pending')
    with op.batch_alter_table('search_generation', schema=None) as batch_op:
        batch_op.drop_index('ix_search_generation_backend')

    op.drop_table('search_generation')
    # pg_trgm stays installed: other schemas in the database may use it.
