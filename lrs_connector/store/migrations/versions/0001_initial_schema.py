"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 12:10:15.996662
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=128), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('rotated_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('key', name=op.f('uq_api_tokens_key')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name'))
    )
    op.create_table('processing_queue',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('statement_id', sa.String(length=36), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('enqueued_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_processing_queue'))
    )
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=128), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('rotated_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('key', name=op.f('uq_sources_key')),
    sa.UniqueConstraint('name', name=op.f('uq_sources_name'))
    )
    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('statement_id', sa.String(length=64), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('received_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('last_received_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('occurrences', sa.Integer(), server_default='1', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='held', nullable=False),
    sa.Column('resolved_at', lrs_connector.store.tables.Timestamp(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_quarantine_source_id_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_body_hash'), ['body_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantine_statement_id'), ['statement_id'], unique=False)
        batch_op.create_index('ix_quarantine_status_id', ['status', 'id'], unique=False)

    op.create_table('statements',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('received_via', sa.String(length=16), nullable=False),
    sa.Column('received_at', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('timestamp', lrs_connector.store.tables.Timestamp(), nullable=False),
    sa.Column('verb_id', sa.Text(), nullable=False),
    sa.Column('object_type', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.Text(), nullable=True),
    sa.Column('registration', sa.String(length=36), nullable=True),
    sa.Column('voids', sa.String(length=36), nullable=True),
    sa.Column('voided', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_statements_source_id_sources')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_statements')),
    sa.UniqueConstraint('id', name=op.f('uq_statements_id'))
    )
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.create_index('ix_statements_voids', ['voids'], unique=False, sqlite_where=sa.text('voids IS NOT NULL'), postgresql_where=sa.text('voids IS NOT NULL'))

    


def downgrade() -> None:
    
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_index('ix_statements_voids', sqlite_where=sa.text('voids IS NOT NULL'), postgresql_where=sa.text('voids IS NOT NULL'))

    op.drop_table('statements')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_status_id')
        batch_op.drop_index(batch_op.f('ix_quarantine_statement_id'))
        batch_op.drop_index(batch_op.f('ix_quarantine_body_hash'))

    op.drop_table('quarantine')
    op.drop_table('sources')
    op.drop_table('processing_queue')
    op.drop_table('api_tokens')
    
