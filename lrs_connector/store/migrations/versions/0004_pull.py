"""pull sources and backfill checkpoints

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pull_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('username', sa.String(length=200), server_default='', nullable=False),
    sa.Column('password_ref', sa.String(length=500), server_default='', nullable=False),
    sa.Column('xapi_version', sa.String(length=8), server_default='1.0.3', nullable=False),
    sa.Column('interval_seconds', sa.Float(), server_default='60', nullable=False),
    sa.Column('timeout_seconds', sa.Float(), server_default='30', nullable=False),
    sa.Column('lookback_seconds', sa.Float(), server_default='300', nullable=False),
    sa.Column('page_size', sa.Integer(), server_default='500', nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('cursor_stored', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('chain_more', sa.Text(), nullable=True),
    sa.Column('chain_stored', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('next_attempt_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('last_attempt_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('last_success_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('pulled_total', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_pull_sources_source_id_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pull_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_pull_sources_name'))
    )
    op.create_table('backfill_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('position', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('stored', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('duplicates', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rejected', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('done', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('started_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('updated_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backfill_files')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_backfill_files_fingerprint'))
    )


def downgrade() -> None:
    op.drop_table('backfill_files')
    op.drop_table('pull_sources')
