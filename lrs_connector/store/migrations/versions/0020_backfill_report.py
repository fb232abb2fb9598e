"""backfill checkpoints record the rejects report's committed length: the report is written
before each batch commits, and a resumed backfill cuts off what an uncommitted batch wrote, so
every rejected item is in the report exactly once however the run was interrupted

Checkpoints from before have no length (NULL): their report is left as it is.

Revision ID: 0020
Revises: 0004
Create Date: 2026-11-29 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('backfill_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('report_bytes', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('backfill_files', schema=None) as batch_op:
        batch_op.drop_column('report_bytes')
        batch_op.drop_column('report')
