"""accounts: local accounts of the web consoles, their sessions, login throttle counters

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-28 15:21:07.846216
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = '0008'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('password_changed_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('last_login_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_accounts_username'))
    )
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('locked_until', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    op.create_table('ui_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('last_seen_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_ui_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_ui_sessions'))
    )
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_ui_sessions_account_id', ['account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_ui_sessions_account_id')

    op.drop_table('ui_sessions')
    op.drop_table('login_throttle')
    op.drop_table('accounts')
