"""lms delivery: coalesced deliveries per target, resolved LMS users, LTI signing keys

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-28 15:12:16.383468
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = '0006'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('learner_id', sa.BigInteger(), nullable=False),
    sa.Column('role', sa.String(length=2048), nullable=False),
    sa.Column('outbox_id', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('lease_until', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('outcome', sa.String(length=200), nullable=True),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('updated_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('delivered_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('target', 'learner_id', 'role', name=op.f('uq_deliveries_target_learner_id_role'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_learner_id', ['learner_id'], unique=False)
        batch_op.create_index('ix_deliveries_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('lms_users',
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('learner_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('resolved_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('target', 'learner_id', name=op.f('pk_lms_users'))
    )
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('public_jwk', sa.Text(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('retired_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys'))
    )


def downgrade() -> None:
    op.drop_table('signing_keys')
    op.drop_table('lms_users')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_status_next_attempt_at')
        batch_op.drop_index('ix_deliveries_learner_id')

    op.drop_table('deliveries')
