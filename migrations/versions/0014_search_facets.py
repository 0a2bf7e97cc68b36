"""search filters in the document row (PostgreSQL): search_document.facets, every facet value
of the document as "facet:value" (text[], GIN-indexed), so a filter is a condition on the row
that combines with the text match and with a walk of the sort index, instead of an id set
read from search_facet

Revision ID: 0014_search_facets
Revises: 0013_search_rows
Create Date: 2026-12-07 16:00:00

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0014_search_facets"
down_revision = "0013_search_rows"
branch_labels = None
depends_on = None

# Unused on SQLite (filters there stay id sets of search_facet): a plain nullable column.
FACETS = sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("search_document") as batch:
        batch.add_column(sa.Column("facets", FACETS, nullable=True))
    if postgres:
        # Small, tested on every row a filter reads: kept in the row, never in TOAST.
        op.execute("ALTER TABLE search_document ALTER COLUMN facets SET STORAGE MAIN")
        op.execute(
            "UPDATE search_document d SET facets = coalesce((SELECT array_agg("
            "f.facet || ':' || f.value ORDER BY f.facet, f.value) FROM search_facet f "
            "WHERE f.doc_id = d.id), '{}')"
        )
    with op.batch_alter_table("search_document") as batch:
        batch.create_index(
            "ix_search_document_facets", ["facets"], unique=False, postgresql_using="gin"
        )


def downgrade():
    with op.batch_alter_table("search_document") as batch:
        batch.drop_index("ix_search_document_facets", postgresql_using="gin")
        batch.drop_column("facets")
