"""readiness: current cell and role scores, snapshots (history), outbox

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('readiness_cells',
    sa.Column('learner_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('target', sa.String(length=2048), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('scale', sa.BigInteger(), nullable=False),
    sa.Column('counted', sa.Integer(), nullable=False),
    sa.Column('next_change', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('proficiency', sa.Float(), nullable=False),
    sa.Column('computed_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('learner_id', 'target', name=op.f('pk_readiness_cells'))
    )
    op.create_table('readiness_roles',
    sa.Column('learner_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('role', sa.String(length=2048), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('computed_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('learner_id', 'role', name=op.f('pk_readiness_roles'))
    )
    op.create_table('readiness_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('learner_id', sa.BigInteger(), nullable=False),
    sa.Column('role', sa.String(length=2048), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('computed_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_snapshots'))
    )
    with op.batch_alter_table('readiness_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_readiness_snapshots_learner_id_role_id', ['learner_id', 'role', 'id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('learner_id', sa.BigInteger(), nullable=False),
    sa.Column('role', sa.String(length=2048), nullable=True),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_id', ['status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_id')
    op.drop_table('outbox')
    with op.batch_alter_table('readiness_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_readiness_snapshots_learner_id_role_id')
    op.drop_table('readiness_snapshots')
    op.drop_table('readiness_roles')
    op.drop_table('readiness_cells')
