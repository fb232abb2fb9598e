"""badges: badge classes and assertions

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-28 15:24:24.579928
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = '0007'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('badge_classes',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=2048), nullable=False),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('role_name', sa.String(length=300), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('criteria', sa.Text(), nullable=False),
    sa.Column('alignment', sa.Text(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_classes')),
    sa.UniqueConstraint('role', 'level', name=op.f('uq_badge_classes_role_level'))
    )
    op.create_table('badge_assertions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('class_id', sa.String(length=120), nullable=False),
    sa.Column('learner_id', sa.BigInteger(), nullable=False),
    sa.Column('recipient', sa.String(length=80), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('issued_on', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.Column('revoked_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('revoked_by', sa.String(length=16), nullable=True),
    sa.Column('revocation_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['badge_classes.id'], name=op.f('fk_badge_assertions_class_id_badge_classes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_assertions'))
    )
    with op.batch_alter_table('badge_assertions', schema=None) as batch_op:
        batch_op.create_index('ix_badge_assertions_learner_id', ['learner_id'], unique=False)
        batch_op.create_index('ix_badge_assertions_revoked_at', ['revoked_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('badge_assertions', schema=None) as batch_op:
        batch_op.drop_index('ix_badge_assertions_revoked_at')
        batch_op.drop_index('ix_badge_assertions_learner_id')

    op.drop_table('badge_assertions')
    op.drop_table('badge_classes')
