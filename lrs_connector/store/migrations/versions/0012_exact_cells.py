"""exact readiness cells: evidence rows get an ordered integer id (the primary key; the
content key stays unique), and readiness cells keep their exact sum, oldest half-life, the
highest evidence id they count and the model fingerprint, so a processing batch extends a cell
with the evidence after that id instead of reading all of it

Cells stored before have none of these and are summed again the next time they are touched
(or by `lrs-connector readiness recompute`): nothing to backfill. Existing evidence rows are
numbered in storage order.

Revision ID: 0012
Revises: 0005 (readiness cells), 0009 (the last change to evidence)
Create Date: 2026-11-28 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = ('0005', '0009')
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE evidence ADD COLUMN id BIGSERIAL NOT NULL")
        op.execute("ALTER TABLE evidence DROP CONSTRAINT pk_evidence")
        op.execute("ALTER TABLE evidence ADD CONSTRAINT pk_evidence PRIMARY KEY (id)")
        op.execute("ALTER TABLE evidence ADD CONSTRAINT uq_evidence_key UNIQUE (key)")
    else:
        # An INTEGER PRIMARY KEY is SQLite's rowid itself: stable (VACUUM keeps it) and
        # assigned in insert order; copying rows with a NULL id numbers them.
        with op.batch_alter_table('evidence', recreate='always') as batch_op:
            batch_op.add_column(sa.Column('id', sa.Integer(), nullable=False))
            batch_op.drop_constraint('pk_evidence', type_='primary')
            batch_op.create_primary_key('pk_evidence', ['id'])
            batch_op.create_unique_constraint('uq_evidence_key', ['key'])
    op.drop_index('ix_evidence_learner_id_target', table_name='evidence')
    op.create_index('ix_evidence_learner_id_target_id', 'evidence',
                    ['learner_id', 'target', 'id'])
    with op.batch_alter_table('readiness_cells', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exact', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('low', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('upto', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('model', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('readiness_cells', schema=None) as batch_op:
        batch_op.drop_column('model')
        batch_op.drop_column('upto')
        batch_op.drop_column('low')
        batch_op.drop_column('exact')
    op.drop_index('ix_evidence_learner_id_target_id', table_name='evidence')
    op.create_index('ix_evidence_learner_id_target', 'evidence', ['learner_id', 'target'])
    with op.batch_alter_table('evidence', recreate='always') as batch_op:
        batch_op.drop_constraint('uq_evidence_key', type_='unique')
        batch_op.drop_constraint('pk_evidence', type_='primary')
        batch_op.create_primary_key('pk_evidence', ['key'])
        batch_op.drop_column('id')
