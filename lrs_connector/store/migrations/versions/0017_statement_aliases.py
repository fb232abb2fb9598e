"""who each processed statement names, by alias, so the audit console's learner filter finds a
learner's unmapped statements too; filled from the evidence already stored (statements that
gave no evidence before this migration stay unlinked)

Revision ID: 0017
Revises: 0012 (evidence with ids), learners are in 0003
Create Date: 2026-11-28 20:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'statement_aliases',
        sa.Column('statement_id', sa.String(length=36), nullable=False),
        sa.Column('alias', sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint('statement_id', 'alias', name=op.f('pk_statement_aliases')),
    )
    op.create_index('ix_statement_aliases_alias', 'statement_aliases',
                    ['alias', 'statement_id'])
    op.execute("INSERT INTO statement_aliases (statement_id, alias) "
               "SELECT DISTINCT statement_id, alias FROM evidence")


def downgrade() -> None:
    op.drop_index('ix_statement_aliases_alias', table_name='statement_aliases')
    op.drop_table('statement_aliases')
