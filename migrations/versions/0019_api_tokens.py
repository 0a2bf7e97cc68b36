"""Admin API: tokens (sha256 of the secret), the idempotency keys' first answers, and the
token that made an audited change.

Revision ID: 0019_api_tokens
Revises: 0018_variant_image
Create Date: 2026-12-07 16:30:00

"""

import sqlalchemy as sa
from alembic import op


revision = "0019_api_tokens"
down_revision = "0018_variant_image"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_member.id"],
            name=op.f("fk_api_token_created_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_token_secret_hash")),
    )
    op.create_table(
        "api_idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_token.id"],
            name=op.f("fk_api_idempotency_key_token_id_api_token"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_key")),
        sa.UniqueConstraint("token_id", "key", name=op.f("uq_api_idempotency_key_token_id_key")),
    )
    op.create_index(
        op.f("ix_api_idempotency_key_created_at"),
        "api_idempotency_key",
        ["created_at"],
        unique=False,
    )
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("actor_token_id", sa.Integer(), nullable=True))
        batch.create_index("ix_audit_entry_actor_token", ["actor_token_id", "id"], unique=False)
        batch.create_foreign_key(
            op.f("fk_audit_entry_actor_token_id_api_token"),
            "api_token",
            ["actor_token_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_constraint("fk_audit_entry_actor_token_id_api_token", type_="foreignkey")
        batch.drop_index("ix_audit_entry_actor_token")
        batch.drop_column("actor_token_id")
    op.drop_table("api_idempotency_key")
    op.drop_table("api_token")
