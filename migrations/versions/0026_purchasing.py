"""purchasing: suppliers, a variant's preferred supplier, purchase orders, their lines and
receipts, the purchasing settings, and the variant's weighted average cost

Revision ID: 0026_purchasing
Revises: 0025_stock_transfers
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0026_purchasing"
down_revision = "0025_stock_transfers"
branch_labels = None
depends_on = None


def upgrade():
    # No CHECK on the new column: on SQLite it would mean copying the table (losing its
    # expression indexes); the services refuse a negative cost.
    op.add_column("variant", sa.Column("cost", sa.Integer(), nullable=True))
    op.create_table(
        "supplier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("lead_time_days >= 0", name=op.f("ck_supplier_lead_time_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier")),
        sa.UniqueConstraint("name", name=op.f("uq_supplier_name")),
    )
    op.create_table(
        "supplier_variant",
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("supplier_sku", sa.String(length=64), nullable=False),
        sa.Column("unit_cost", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "unit_cost IS NULL OR unit_cost >= 0",
            name=op.f("ck_supplier_variant_unit_cost_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["supplier.id"],
            name=op.f("fk_supplier_variant_supplier_id_supplier"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name=op.f("fk_supplier_variant_variant_id_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", name=op.f("pk_supplier_variant")),
    )
    op.create_index("ix_supplier_variant_supplier", "supplier_variant", ["supplier_id"])
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ordered_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'ordered', 'partly_received', 'received', 'cancelled')",
            name=op.f("ck_purchase_order_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_member.id"],
            name=op.f("fk_purchase_order_created_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name=op.f("fk_purchase_order_location_id_location"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["supplier.id"],
            name=op.f("fk_purchase_order_supplier_id_supplier"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order")),
        sa.UniqueConstraint("number", name=op.f("uq_purchase_order_number")),
    )
    op.create_index("ix_purchase_order_status", "purchase_order", ["status", "id"])
    op.create_index("ix_purchase_order_supplier", "purchase_order", ["supplier_id", "id"])
    op.create_table(
        "purchase_order_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_order_line_quantity_positive")),
        sa.CheckConstraint(
            "received >= 0", name=op.f("ck_purchase_order_line_received_not_negative")
        ),
        sa.CheckConstraint(
            "unit_cost >= 0", name=op.f("ck_purchase_order_line_unit_cost_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_order.id"],
            name=op.f("fk_purchase_order_line_purchase_order_id_purchase_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name=op.f("fk_purchase_order_line_variant_id_variant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_line")),
        sa.UniqueConstraint(
            "purchase_order_id",
            "variant_id",
            name=op.f("uq_purchase_order_line_purchase_order_id_variant_id"),
        ),
    )
    op.create_index("ix_purchase_order_line_variant", "purchase_order_line", ["variant_id"])
    op.create_table(
        "purchase_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("movement_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("over_received", sa.Boolean(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_receipt_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["staff_member.id"],
            name=op.f("fk_purchase_receipt_actor_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["purchase_order_line.id"],
            name=op.f("fk_purchase_receipt_line_id_purchase_order_line"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movement.id"],
            name=op.f("fk_purchase_receipt_movement_id_stock_movement"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_receipt")),
        sa.UniqueConstraint("movement_id", name=op.f("uq_purchase_receipt_movement_id")),
    )
    op.create_index("ix_purchase_receipt_line", "purchase_receipt", ["line_id", "id"])
    op.create_table(
        "purchasing_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("show_incoming_in_shop", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchasing_settings")),
    )


def downgrade():
    op.drop_table("purchasing_settings")
    op.drop_index("ix_purchase_receipt_line", table_name="purchase_receipt")
    op.drop_table("purchase_receipt")
    op.drop_index("ix_purchase_order_line_variant", table_name="purchase_order_line")
    op.drop_table("purchase_order_line")
    op.drop_index("ix_purchase_order_supplier", table_name="purchase_order")
    op.drop_index("ix_purchase_order_status", table_name="purchase_order")
    op.drop_table("purchase_order")
    op.drop_index("ix_supplier_variant_supplier", table_name="supplier_variant")
    op.drop_table("supplier_variant")
    op.drop_table("supplier")
    op.execute("ALTER TABLE variant DROP COLUMN cost")
