"""Customers found by "contains" in their email or name on PostgreSQL: trigram indexes over
lower(email) and lower(name), as the orders' (0015_console_text).

Revision ID: 0022_customer_text
Revises: 0021_sealed_secrets
Create Date: 2026-12-07 19:10:00

"""

from alembic import op

revision = "0022_customer_text"
down_revision = "0021_sealed_secrets"
branch_labels = None
depends_on = None

COLUMNS = ("email", "name")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(
            f"CREATE INDEX ix_customer_{column}_trgm ON customer"
            f" USING gin (lower({column}) gin_trgm_ops)"
        )
    op.execute("ANALYZE customer")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.drop_index(f"ix_customer_{column}_trgm", table_name="customer")
