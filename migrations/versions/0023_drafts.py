"""Draft orders; abandoned checkout recovery (its settings, what was sent per checkout, the
addresses that unsubscribed), the checkout's recovery consent and its indexes for recovery.

Revision ID: 0023_drafts
Revises: 0022_customer_text
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0023_drafts"
down_revision = "0022_customer_text"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "draft_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("checkout_key", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        sa.Column("shipping_method_code", sa.String(length=40), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("coupon_code", sa.String(length=64), nullable=False),
        sa.Column("discount_kind", sa.String(length=10), nullable=False),
        sa.Column("discount_value", sa.Integer(), nullable=False),
        sa.Column("discount_reason", sa.String(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("pay_nonce", sa.String(length=32), nullable=True),
        sa.Column("invoice_sent_at", sa.DateTime(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'invoiced', 'completed')", name=op.f("ck_draft_order_status_known")
        ),
        sa.CheckConstraint(
            "discount_kind IN ('', 'amount', 'percent')",
            name=op.f("ck_draft_order_discount_kind_known"),
        ),
        sa.CheckConstraint(
            "discount_value >= 0", name=op.f("ck_draft_order_discount_value_positive")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_draft_order_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
            name=op.f("fk_draft_order_order_id_shop_order"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_order")),
        sa.UniqueConstraint("checkout_key", name=op.f("uq_draft_order_checkout_key")),
    )
    op.create_index("ix_draft_order_status", "draft_order", ["status", "id"], unique=False)
    op.create_table(
        "recovery_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("abandoned_after_minutes", sa.Integer(), nullable=False),
        sa.Column("first_email", sa.Boolean(), nullable=False),
        sa.Column("second_email", sa.Boolean(), nullable=False),
        sa.Column("second_after_hours", sa.Integer(), nullable=False),
        sa.Column("require_consent", sa.Boolean(), nullable=False),
        sa.Column("promotion_code", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_settings")),
    )
    op.create_table(
        "checkout_recovery",
        sa.Column("checkout_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("first_sent_at", sa.DateTime(), nullable=True),
        sa.Column("second_sent_at", sa.DateTime(), nullable=True),
        sa.Column("restored_cart_id", sa.Integer(), nullable=True),
        sa.Column("restored_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkout_id"],
            ["checkout.id"],
            name=op.f("fk_checkout_recovery_checkout_id_checkout"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["restored_cart_id"],
            ["cart.id"],
            name=op.f("fk_checkout_recovery_restored_cart_id_cart"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("checkout_id", name=op.f("pk_checkout_recovery")),
    )
    op.create_index(
        "ix_checkout_recovery_cart", "checkout_recovery", ["restored_cart_id"], unique=False
    )
    op.create_table(
        "recovery_unsubscribe",
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_recovery_unsubscribe")),
    )
    with op.batch_alter_table("checkout") as batch:
        batch.add_column(
            sa.Column("recovery_consent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_checkout_status_updated", ["status", "updated_at"], unique=False)
        batch.create_index("ix_checkout_email", ["email"], unique=False)


def downgrade():
    with op.batch_alter_table("checkout") as batch:
        batch.drop_index("ix_checkout_email")
        batch.drop_index("ix_checkout_status_updated")
        batch.drop_column("recovery_consent")
    op.drop_table("recovery_unsubscribe")
    op.drop_index("ix_checkout_recovery_cart", table_name="checkout_recovery")
    op.drop_table("checkout_recovery")
    op.drop_table("recovery_settings")
    op.drop_index("ix_draft_order_status", table_name="draft_order")
    op.drop_table("draft_order")
