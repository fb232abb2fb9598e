"""console: the last check of each LMS target

Revision ID: 0010
Revises: 0001
Create Date: 2026-11-28 16:05:17.786383
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = '0010'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('target_checks',
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('checked_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('checked_by', sa.String(length=100), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('target', name=op.f('pk_target_checks'))
    )


def downgrade() -> None:
    op.drop_table('target_checks')
