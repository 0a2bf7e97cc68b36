"""Transfer documents (lines, receipts: units in transit between two locations) and count
sessions (a cycle count scanned at a location before it is applied).

Revision ID: 0025_stock_transfers
Revises: 0024_bulk_edit
Create Date: 2026-12-07 18:46:26

"""

import sqlalchemy as sa
from alembic import op

revision = "0025_stock_transfers"
down_revision = "0024_bulk_edit"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "count_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'applied', 'abandoned')", name=op.f("ck_count_session_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_member.id"],
            name=op.f("fk_count_session_created_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name=op.f("fk_count_session_location_id_location"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_session")),
    )
    with op.batch_alter_table("count_session", schema=None) as batch_op:
        batch_op.create_index("ix_count_session_status", ["status", "id"], unique=False)

    op.create_table(
        "stock_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("discrepancy_note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("shipped_at", sa.DateTime(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'in_transit', 'partly_received', 'received', 'cancelled')",
            name=op.f("ck_stock_transfer_status_known"),
        ),
        sa.CheckConstraint(
            "origin_id <> destination_id", name=op.f("ck_stock_transfer_two_locations")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_member.id"],
            name=op.f("fk_stock_transfer_created_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["location.id"],
            name=op.f("fk_stock_transfer_destination_id_location"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["origin_id"],
            ["location.id"],
            name=op.f("fk_stock_transfer_origin_id_location"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transfer")),
    )
    with op.batch_alter_table("stock_transfer", schema=None) as batch_op:
        batch_op.create_index("ix_stock_transfer_status", ["status", "id"], unique=False)

    op.create_table(
        "count_session_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("last_key", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("counted >= 0", name=op.f("ck_count_session_line_counted_not_negative")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["count_session.id"],
            name=op.f("fk_count_session_line_session_id_count_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name=op.f("fk_count_session_line_variant_id_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_session_line")),
        sa.UniqueConstraint(
            "session_id", "variant_id", name=op.f("uq_count_session_line_session_id_variant_id")
        ),
    )
    op.create_table(
        "stock_transfer_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("shipped", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_transfer_line_quantity_positive")),
        sa.CheckConstraint(
            "received + returned + missing <= shipped",
            name=op.f("ck_stock_transfer_line_within_shipped"),
        ),
        sa.CheckConstraint(
            "received >= 0 AND returned >= 0 AND missing >= 0",
            name=op.f("ck_stock_transfer_line_outcomes_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["stock_transfer.id"],
            name=op.f("fk_stock_transfer_line_transfer_id_stock_transfer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name=op.f("fk_stock_transfer_line_variant_id_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transfer_line")),
        sa.UniqueConstraint(
            "transfer_id", "variant_id", name=op.f("uq_stock_transfer_line_transfer_id_variant_id")
        ),
    )
    with op.batch_alter_table("stock_transfer_line", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stock_transfer_line_variant", ["variant_id", "transfer_id"], unique=False
        )

    op.create_table(
        "stock_transfer_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("movement_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_stock_transfer_receipt_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["staff_member.id"],
            name=op.f("fk_stock_transfer_receipt_actor_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["stock_transfer_line.id"],
            name=op.f("fk_stock_transfer_receipt_line_id_stock_transfer_line"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movement.id"],
            name=op.f("fk_stock_transfer_receipt_movement_id_stock_movement"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["stock_transfer.id"],
            name=op.f("fk_stock_transfer_receipt_transfer_id_stock_transfer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transfer_receipt")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_stock_transfer_receipt_idempotency_key")
        ),
    )
    with op.batch_alter_table("stock_transfer_receipt", schema=None) as batch_op:
        batch_op.create_index("ix_stock_transfer_receipt_line", ["line_id", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("stock_transfer_receipt", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_transfer_receipt_line")

    op.drop_table("stock_transfer_receipt")
    with op.batch_alter_table("stock_transfer_line", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_transfer_line_variant")

    op.drop_table("stock_transfer_line")
    op.drop_table("count_session_line")
    with op.batch_alter_table("stock_transfer", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_transfer_status")

    op.drop_table("stock_transfer")
    with op.batch_alter_table("count_session", schema=None) as batch_op:
        batch_op.drop_index("ix_count_session_status")

    op.drop_table("count_session")
