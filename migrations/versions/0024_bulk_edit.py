"""the bulk editor's batches (one save, price change or undo) and their cells, before and after

Revision ID: 0024_bulk_edit
Revises: 0023_drafts
Create Date: 2026-12-07 19:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0024_bulk_edit"
down_revision = "0023_drafts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bulk_edit_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_label", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("change_count", sa.Integer(), nullable=False),
        sa.Column("variant_count", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("undo_of_id", sa.Integer(), nullable=True),
        sa.Column("undone_by_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_member.id"],
            name=op.f("fk_bulk_edit_batch_created_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["undo_of_id"],
            ["bulk_edit_batch.id"],
            name=op.f("fk_bulk_edit_batch_undo_of_id_bulk_edit_batch"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_id"],
            ["bulk_edit_batch.id"],
            name=op.f("fk_bulk_edit_batch_undone_by_id_bulk_edit_batch"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_edit_batch")),
    )
    op.create_table(
        "bulk_edit_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("column", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["bulk_edit_batch.id"],
            name=op.f("fk_bulk_edit_change_batch_id_bulk_edit_batch"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_edit_change")),
    )
    op.create_index(
        "ix_bulk_edit_change_batch", "bulk_edit_change", ["batch_id", "state"], unique=False
    )


def downgrade():
    op.drop_index("ix_bulk_edit_change_batch", table_name="bulk_edit_change")
    op.drop_table("bulk_edit_change")
    op.drop_table("bulk_edit_batch")
