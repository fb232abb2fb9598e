"""periodic jobs: when each last ran (the daily readiness refresh)

Revision ID: 0015
Revises: 0001
Create Date: 2026-11-28 19:50:00
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables

revision = '0015'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'schedule',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('last_run', lrs_connector.store.tables.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_schedule')),
    )


def downgrade() -> None:
    op.drop_table('schedule')
