"""Bundles and kits, and unavailable stock.

Bundles: a bundle variant's components with their quantities, and the components
an order line sold as a bundle (snapshot, so the stock moves by what was sold), and a parcel
line's component units per bundle.

Unavailable stock: a level's units on hand but not for sale (damaged, in quality control,
safety stock), its "available" CHECK and index including them, and the ledger's `bucket` (the
counter a movement changes). SQLite rebuilds stock_level from the table as it was (copy_from):
its CHECKs are not reflected there; the expression index is dropped and made again around it.

Revision ID: 0028_bundles
Revises: 0027_gift_cards
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op


revision = "0028_bundles"
down_revision = "0027_gift_cards"
branch_labels = None
depends_on = None


AVAILABLE_BEFORE = "on_hand - allocated - reserved"
AVAILABLE_AFTER = "on_hand - allocated - reserved - damaged - quality_control - safety_stock"
STATES = ("damaged", "quality_control", "safety_stock")


def _stock_level(*extra):
    """stock_level as 0001 made it (plus `extra` columns), for SQLite's batch rebuild."""
    return sa.Table(
        "stock_level",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        *extra,
        sa.CheckConstraint("allocated >= 0", name="ck_stock_level_allocated_not_negative"),
        sa.CheckConstraint(
            f"{AVAILABLE_AFTER if extra else AVAILABLE_BEFORE} >= 0",
            name="ck_stock_level_available_not_negative",
        ),
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_level_on_hand_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_level_reserved_not_negative"),
        *(
            sa.CheckConstraint(f"{state} >= 0", name=f"ck_stock_level_{state}_not_negative")
            for state in (STATES if extra else ())
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name="fk_stock_level_location_id_location",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name="fk_stock_level_variant_id_variant",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stock_level"),
        sa.UniqueConstraint(
            "variant_id", "location_id", name="uq_stock_level_variant_id_location_id"
        ),
        sa.Index("ix_stock_level_location", "location_id", "variant_id"),
        sa.Index("ix_stock_level_updated", "updated_at", "id"),
        sa.Index("ix_stock_level_on_hand", "on_hand", "id"),
    )


def _state_columns():
    return [
        sa.Column(state, sa.Integer(), nullable=False, server_default=sa.text("0"))
        for state in STATES
    ]


def upgrade():
    op.drop_index("ix_stock_level_available", table_name="stock_level")
    with op.batch_alter_table("stock_level", copy_from=_stock_level()) as batch:
        for column in _state_columns():
            batch.add_column(column)
        batch.drop_constraint(op.f("ck_stock_level_available_not_negative"), type_="check")
        batch.create_check_constraint(
            op.f("ck_stock_level_available_not_negative"), sa.text(f"{AVAILABLE_AFTER} >= 0")
        )
        for state in STATES:
            batch.create_check_constraint(
                op.f(f"ck_stock_level_{state}_not_negative"), sa.text(f"{state} >= 0")
            )
    op.create_index(
        "ix_stock_level_available", "stock_level", [sa.text(f"({AVAILABLE_AFTER})"), "id"]
    )
    op.add_column(
        "stock_movement",
        sa.Column("bucket", sa.String(length=20), nullable=False, server_default="on_hand"),
    )

    op.create_table(
        "bundle_component",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bundle_variant_id", sa.Integer(), nullable=False),
        sa.Column("component_variant_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_bundle_component_quantity_positive")),
        sa.CheckConstraint(
            "bundle_variant_id <> component_variant_id", name=op.f("ck_bundle_component_not_itself")
        ),
        sa.ForeignKeyConstraint(
            ["bundle_variant_id"],
            ["variant.id"],
            name=op.f("fk_bundle_component_bundle_variant_id_variant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["component_variant_id"],
            ["variant.id"],
            name=op.f("fk_bundle_component_component_variant_id_variant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_component")),
        sa.UniqueConstraint(
            "bundle_variant_id",
            "component_variant_id",
            name=op.f("uq_bundle_component_bundle_variant_id_component_variant_id"),
        ),
    )
    op.create_index(
        "ix_bundle_component_component",
        "bundle_component",
        ["component_variant_id", "bundle_variant_id"],
    )
    # A plain ADD COLUMN: on SQLite a batch copy of order_line would lose its expression index.
    op.add_column(
        "order_line",
        sa.Column("components", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column("fulfillment_line", sa.Column("per_bundle", sa.Integer(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE stock_movement DROP COLUMN bucket")
    op.drop_index("ix_stock_level_available", table_name="stock_level")
    with op.batch_alter_table("stock_level", copy_from=_stock_level(*_state_columns())) as batch:
        for state in STATES:
            batch.drop_constraint(op.f(f"ck_stock_level_{state}_not_negative"), type_="check")
        batch.drop_constraint(op.f("ck_stock_level_available_not_negative"), type_="check")
        batch.create_check_constraint(
            op.f("ck_stock_level_available_not_negative"), sa.text(f"{AVAILABLE_BEFORE} >= 0")
        )
        for state in STATES:
            batch.drop_column(state)
    op.create_index(
        "ix_stock_level_available", "stock_level", [sa.text(f"({AVAILABLE_BEFORE})"), "id"]
    )
    op.execute("ALTER TABLE fulfillment_line DROP COLUMN per_bundle")
    op.execute("ALTER TABLE order_line DROP COLUMN components")
    op.drop_index("ix_bundle_component_component", table_name="bundle_component")
    op.drop_table("bundle_component")
