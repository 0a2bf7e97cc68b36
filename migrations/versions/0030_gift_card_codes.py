"""Gift cards bought in the shop get random codes, kept sealed (DATA_KEYS) until the buyer's
email has gone. Before, their codes were an HMAC of SECRET_KEY with the order line and unit, so
anyone holding SECRET_KEY could compute every bought card's code. Cards bought before and not
emailed yet get their (old) code sealed here, so their email still says it; a downgrade drops
the column (those codes can still be derived the old way).

Revision ID: 0030_gift_card_codes
Revises: 0029_reports
Create Date: 2026-12-07 22:00:00

"""

import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from flask import current_app

from commerce.sealed import seal

revision = "0030_gift_card_codes"
down_revision = "0029_reports"
branch_labels = None
depends_on = None

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _legacy_code(secret_key: str, order_line_id: int, unit: int) -> str:
    digest = hmac.new(
        secret_key.encode(), f"gift-card:{order_line_id}:{unit}".encode(), hashlib.sha256
    ).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:16])


def upgrade():
    with op.batch_alter_table("gift_card") as batch:
        batch.add_column(sa.Column("code_sealed", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, order_line_id, unit FROM gift_card "
            "WHERE order_line_id IS NOT NULL AND emailed_at IS NULL"
        )
    ).all()
    if not rows:
        return
    config = current_app.config
    for card_id, line_id, unit in rows:
        code = _legacy_code(str(config["SECRET_KEY"]), line_id, unit or 0)
        bind.execute(
            sa.text("UPDATE gift_card SET code_sealed = :sealed WHERE id = :id"),
            {"sealed": seal(code, config=config), "id": card_id},
        )


def downgrade():
    with op.batch_alter_table("gift_card") as batch:
        batch.drop_column("code_sealed")
