"""mapping: learners and aliases, mapping set versions, evidence

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('learners',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('merged_into', sa.BigInteger(), nullable=True),
    sa.Column('merged_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.ForeignKeyConstraint(['merged_into'], ['learners.id'], name=op.f('fk_learners_merged_into_learners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_learners'))
    )
    op.create_table('mapping_versions',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=500), server_default='', nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('published_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('retired_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_mapping_versions'))
    )
    with op.batch_alter_table('mapping_versions', schema=None) as batch_op:
        batch_op.create_index('uq_mapping_versions_published', ['status'], unique=True, sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))

    op.create_table('evidence',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('statement_id', sa.String(length=36), nullable=False),
    sa.Column('learner_id', sa.BigInteger(), nullable=False),
    sa.Column('alias', sa.String(length=512), nullable=False),
    sa.Column('rule_id', sa.String(length=200), nullable=False),
    sa.Column('mapping_version', sa.Integer(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('polarity', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('timestamp', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('valid_until', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('retracted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('retraction', sa.String(length=16), nullable=True),
    sa.Column('retracted_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_evidence_learner_id_learners')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_evidence'))
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_learner_id_target', ['learner_id', 'target'], unique=False)
        batch_op.create_index('ix_evidence_mapping_version_rule_id', ['mapping_version', 'rule_id'], unique=False)
        batch_op.create_index('ix_evidence_statement_id', ['statement_id'], unique=False)

    op.create_table('learner_aliases',
    sa.Column('alias', sa.String(length=512), nullable=False),
    sa.Column('learner_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['learners.id'], name=op.f('fk_learner_aliases_learner_id_learners')),
    sa.PrimaryKeyConstraint('alias', name=op.f('pk_learner_aliases'))
    )
    with op.batch_alter_table('learner_aliases', schema=None) as batch_op:
        batch_op.create_index('ix_learner_aliases_learner_id', ['learner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('learner_aliases', schema=None) as batch_op:
        batch_op.drop_index('ix_learner_aliases_learner_id')

    op.drop_table('learner_aliases')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_statement_id')
        batch_op.drop_index('ix_evidence_mapping_version_rule_id')
        batch_op.drop_index('ix_evidence_learner_id_target')

    op.drop_table('evidence')
    with op.batch_alter_table('mapping_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_mapping_versions_published', sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))

    op.drop_table('mapping_versions')
    op.drop_table('learners')
