"""Secrets the app reads back are encrypted at rest: the staff's authenticator secrets and the
webhook endpoints' signing secrets (commerce/sealed.py). Rows written before are sealed here
with the app's keys (DATA_KEYS, or the key derived from SECRET_KEY); a downgrade opens them.

Revision ID: 0021_sealed_secrets
Revises: 0020_webhooks
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

from commerce.sealed import seal, unseal

revision = "0021_sealed_secrets"
down_revision = "0020_webhooks"
branch_labels = None
depends_on = None

# (table, key column, secret columns, width of the plain column before sealing)
SEALED = [
    ("staff_second_factor", "staff_id", ("secret",), 64),
    ("webhook_endpoint", "id", ("secret", "previous_secret"), 100),
]


def _rewrite(change) -> None:
    bind = op.get_bind()
    config = current_app.config
    for table, key, columns, _width in SEALED:
        rows = bind.execute(sa.text(f"SELECT {key}, {', '.join(columns)} FROM {table}")).all()
        for row in rows:
            values = {
                column: change(value, config=config) if value is not None else None
                for column, value in zip(columns, row[1:], strict=True)
            }
            assignments = ", ".join(f"{column} = :{column}" for column in columns)
            bind.execute(
                sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :key"),
                {**values, "key": row[0]},
            )


def upgrade():
    for table, _key, columns, width in SEALED:
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=sa.String(length=width), type_=sa.Text())
    _rewrite(
        lambda value, config: value if value.startswith("gAAAAA") else seal(value, config=config)
    )


def downgrade():
    _rewrite(unseal)
    for table, _key, columns, width in SEALED:
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=sa.Text(), type_=sa.String(length=width))
