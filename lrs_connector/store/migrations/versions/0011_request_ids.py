"""request ids carried from intake to delivery: the queue keeps the X-Request-Id that stored
each statement, so processing (and, through the outbox payload, delivery) log it

Revision ID: 0011
Revises: 0001
Create Date: 2026-11-28 17:18:57.363380
"""

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('processing_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('processing_queue', schema=None) as batch_op:
        batch_op.drop_column('request_id')
