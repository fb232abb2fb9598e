"""backfill_reports: each rejects report's length when the last batch that wrote to it
committed. The report is written before each batch commits, and a run cuts off what lies past
that length (lines of a batch that did not commit), so every rejected item is in the report
exactly once however a backfill was interrupted.

Revision ID: 0020
Revises: 0004
Create Date: 2026-11-29 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables

revision = '0020'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'backfill_reports',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('report', sa.Text(), nullable=False),
        sa.Column('committed_bytes', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', lrs_connector.store.tables.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('backfill_reports')
