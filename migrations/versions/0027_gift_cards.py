"""Gift cards and store credit: cards (code hash, last 4, balance), store credit per customer,
their ledgers, the tenders paying for checkouts and orders; the product's gift card flag; where
a refund goes (destination) and its part going back to gift cards and credit (tender_plan).

Revision ID: 0027_gift_cards
Revises: 0026_purchasing
Create Date: 2026-12-07 18:47:42

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0027_gift_cards"
down_revision = "0026_purchasing"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "store_credit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_store_credit_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_store_credit_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_store_credit_customer_id")),
    )
    op.create_table(
        "store_credit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_credit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'redeem', 'release', 'refund', 'adjust', 'expire')",
            name=op.f("ck_store_credit_entry_kind_known"),
        ),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_store_credit_entry_balance_after_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["by_id"],
            ["staff_member.id"],
            name=op.f("fk_store_credit_entry_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
            name=op.f("fk_store_credit_entry_order_id_shop_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["store_credit_id"],
            ["store_credit.id"],
            name=op.f("fk_store_credit_entry_store_credit_id_store_credit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_entry")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_store_credit_entry_idempotency_key")),
    )
    with op.batch_alter_table("store_credit_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_store_credit_entry_credit", ["store_credit_id", "id"], unique=False
        )

    op.create_table(
        "gift_card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("initial_amount", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recipient_email", sa.String(length=255), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("order_line_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.Integer(), nullable=True),
        sa.Column("emailed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'deactivated', 'expired')", name=op.f("ck_gift_card_status_known")
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_gift_card_balance_not_negative")),
        sa.CheckConstraint("initial_amount >= 0", name=op.f("ck_gift_card_initial_not_negative")),
        sa.ForeignKeyConstraint(
            ["issued_by_id"],
            ["staff_member.id"],
            name=op.f("fk_gift_card_issued_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
            name=op.f("fk_gift_card_order_id_shop_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_line.id"],
            name=op.f("fk_gift_card_order_line_id_order_line"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_gift_card_code_hash")),
        sa.UniqueConstraint("order_line_id", "unit", name=op.f("uq_gift_card_order_line_id_unit")),
    )
    with op.batch_alter_table("gift_card", schema=None) as batch_op:
        batch_op.create_index("ix_gift_card_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_gift_card_order", ["order_id"], unique=False)
        batch_op.create_index("ix_gift_card_status", ["status", "expires_at"], unique=False)

    op.create_table(
        "gift_card_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_card_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'redeem', 'release', 'refund', 'adjust', 'expire')",
            name=op.f("ck_gift_card_entry_kind_known"),
        ),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_gift_card_entry_balance_after_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["by_id"],
            ["staff_member.id"],
            name=op.f("fk_gift_card_entry_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["gift_card_id"],
            ["gift_card.id"],
            name=op.f("fk_gift_card_entry_gift_card_id_gift_card"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
            name=op.f("fk_gift_card_entry_order_id_shop_order"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_entry")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_gift_card_entry_idempotency_key")),
    )
    with op.batch_alter_table("gift_card_entry", schema=None) as batch_op:
        batch_op.create_index("ix_gift_card_entry_card", ["gift_card_id", "id"], unique=False)

    op.create_table(
        "tender",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("gift_card_id", sa.Integer(), nullable=True),
        sa.Column("store_credit_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('gift_card', 'store_credit')", name=op.f("ck_tender_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('applied', 'held', 'redeemed')", name=op.f("ck_tender_status_known")
        ),
        sa.CheckConstraint(
            "amount >= 0 AND refunded >= 0 AND refunded <= amount", name=op.f("ck_tender_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["gift_card_id"],
            ["gift_card.id"],
            name=op.f("fk_tender_gift_card_id_gift_card"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop_order.id"],
            name=op.f("fk_tender_order_id_shop_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["store_credit_id"],
            ["store_credit.id"],
            name=op.f("fk_tender_store_credit_id_store_credit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tender")),
        sa.UniqueConstraint(
            "reference", "gift_card_id", name=op.f("uq_tender_reference_gift_card_id")
        ),
        sa.UniqueConstraint(
            "reference", "store_credit_id", name=op.f("uq_tender_reference_store_credit_id")
        ),
    )
    with op.batch_alter_table("tender", schema=None) as batch_op:
        batch_op.create_index("ix_tender_order", ["order_id"], unique=False)

    # Plain ADD COLUMN (no batch copy: SQLite would lose the tables' expression indexes).
    op.add_column(
        "product", sa.Column("is_gift_card", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "refund",
        sa.Column("destination", sa.String(length=20), server_default="original", nullable=False),
    )
    op.add_column(
        "shop_order",
        sa.Column("has_gift_cards", sa.Boolean(), server_default="0", nullable=False),
    )
    op.add_column(
        "order_line", sa.Column("is_gift_card", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "refund", sa.Column("tender_plan", sa.JSON(), server_default="[]", nullable=False)
    )


def downgrade():
    op.execute("ALTER TABLE refund DROP COLUMN tender_plan")
    op.execute("ALTER TABLE refund DROP COLUMN destination")
    op.execute("ALTER TABLE product DROP COLUMN is_gift_card")
    op.execute("ALTER TABLE order_line DROP COLUMN is_gift_card")
    op.execute("ALTER TABLE shop_order DROP COLUMN has_gift_cards")

    with op.batch_alter_table("tender", schema=None) as batch_op:
        batch_op.drop_index("ix_tender_order")

    op.drop_table("tender")
    with op.batch_alter_table("gift_card_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_gift_card_entry_card")

    op.drop_table("gift_card_entry")
    with op.batch_alter_table("gift_card", schema=None) as batch_op:
        batch_op.drop_index("ix_gift_card_status")
        batch_op.drop_index("ix_gift_card_order")
        batch_op.drop_index("ix_gift_card_created")

    op.drop_table("gift_card")
    with op.batch_alter_table("store_credit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_store_credit_entry_credit")

    op.drop_table("store_credit_entry")
    op.drop_table("store_credit")
