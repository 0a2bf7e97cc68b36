"""search at 100,000 products on PostgreSQL: narrow search_document rows (the display json,
the body and the positional tsv move to TOAST, the lexemes searched per row stay in it) and
statistics of search_facet's (facet, value) pairs

Revision ID: 0013_search_rows
Revises: 0013_console_pg
Create Date: 2026-12-07 15:00:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0013_search_rows"
down_revision = "0013_console_pg"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # A row over 128 bytes has its wide columns (data, body, tsv: EXTENDED storage) moved out
    # of line; lexemes and title_lexemes (MAIN storage) stay in it. A scan that tests lexemes
    # then reads ~700-byte rows instead of ~1.7 KB ones (the page reads `data` for its rows
    # alone). Rows written from now on (the next rebuild rewrites every one) take it.
    op.execute("ALTER TABLE search_document SET (toast_tuple_target = 128)")
    # Facet values are estimated per column (facet, value) as if independent: a vendor of
    # 8,400 rows was taken for 700, and filters were planned as a nested loop probing every
    # id. Statistics of the pair make the estimate right (ANALYZE fills them).
    op.execute(
        "CREATE STATISTICS IF NOT EXISTS st_search_facet_value (mcv) ON facet, value "
        "FROM search_facet"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS st_search_facet_value")
    op.execute("ALTER TABLE search_document RESET (toast_tuple_target)")
