"""console lists at 50,000 on PostgreSQL: one trigram index over a product's title, handle and
vendor; trigram indexes on the order's email and name; rule collections' tags without case

Revision ID: 0015_console_text
Revises: 0014_search_facets
Create Date: 2026-12-07 16:30:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0015_console_text"
down_revision = "0014_search_facets"
branch_labels = None
depends_on = None

PRODUCT_TRGM = ("title", "handle", "vendor")
PRODUCT_TEXT = "(title || chr(10) || handle || chr(10) || vendor)"
ORDER_TRGM = ("email", "customer_name")


def upgrade():
    # Both databases: a rule collection's tag condition compares lower(tag); this index answers
    # it instead of reading every tag row.
    op.create_index(
        "ix_product_tag_lower", "product_tag", [sa.text("lower(tag)"), "product_id"], unique=False
    )
    # The quick search read title, handle and vendor through three trigram indexes (plain,
    # unused ones on SQLite), and for a title alone the planner walked ix_product_title testing
    # every title instead (it prices ILIKE as cheap as an equality): one index over the three
    # (commerce.catalog.models.product_text) answers both, and writes one index instead of three.
    for column in PRODUCT_TRGM:
        op.drop_index(f"ix_product_{column}_trgm", table_name="product")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE INDEX ix_product_text_trgm ON product USING gin ({PRODUCT_TEXT} gin_trgm_ops)"
    )
    # The order list's quick search: lower(email) / lower(customer_name) LIKE '%q%'.
    for column in ORDER_TRGM:
        op.execute(
            f"CREATE INDEX ix_shop_order_{column}_trgm ON shop_order"
            f" USING gin (lower({column}) gin_trgm_ops)"
        )
    # Statistics of the new expressions now, not at the next autovacuum: without them the
    # planner guesses a tag matches 1% of products (it was 20%) and sorts every match.
    for table in ("product_tag", "product", "shop_order"):
        op.execute(f"ANALYZE {table}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for column in ORDER_TRGM:
            op.drop_index(f"ix_shop_order_{column}_trgm", table_name="shop_order")
        op.drop_index("ix_product_text_trgm", table_name="product")
    for column in PRODUCT_TRGM:
        op.create_index(
            f"ix_product_{column}_trgm",
            "product",
            [column],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )
    op.drop_index("ix_product_tag_lower", table_name="product_tag")
