"""workers: outbox leases, backoff and per-consumer completion; job heartbeats and claims

Revision ID: 0010_workers
Revises: 0009_merchandising
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_workers'
down_revision = '0010_outages'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('locked_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column('completed', sa.JSON(), nullable=False, server_default='[]')
        )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('runs', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(
            sa.Column('requeues', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.create_index('ix_job_status_heartbeat', ['status', 'heartbeat_at'], unique=False)
    # A job left "running" by an earlier release has no heartbeat: its last sign of life is its
    # creation, so the first sweep fails it if it is old (it is running nowhere).
    op.execute("UPDATE job SET heartbeat_at = created_at WHERE heartbeat_at IS NULL")


def downgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ix_job_status_heartbeat')
        batch_op.drop_column('requeues')
        batch_op.drop_column('runs')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('started_at')
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_column('completed')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('locked_by')
        batch_op.drop_column('next_attempt_at')
