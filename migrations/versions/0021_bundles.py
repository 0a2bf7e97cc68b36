"""Bundles and kits: a bundle variant's components with their quantities, and the components
an order line sold as a bundle (snapshot, so the stock moves by what was sold), and a parcel
line's component units per bundle.

Revision ID: 0021_bundles
Revises: 0020_webhooks
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op


revision = "0021_bundles"
down_revision = "0020_webhooks"
branch_labels = None
depends_on = None


def upgrade():
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
    op.execute("ALTER TABLE fulfillment_line DROP COLUMN per_bundle")
    op.execute("ALTER TABLE order_line DROP COLUMN components")
    op.drop_index("ix_bundle_component_component", table_name="bundle_component")
    op.drop_table("bundle_component")
