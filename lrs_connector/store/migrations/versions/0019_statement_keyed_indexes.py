"""evidence and statement_aliases lose one index each: processing wrote every statement into
four randomly ordered b-trees of theirs, and two of them only kept a second order of the same
rows.

- evidence: ``UNIQUE (key)`` and the index on ``statement_id`` become one unique index on
  ``(statement_id, key)``. The key hashes the statement id, so uniqueness is unchanged, and
  the index still finds a statement's rows.
- statement_aliases: keyed ``(alias, statement_id)``, the order the audit console reads it
  in, instead of a primary key ``(statement_id, alias)`` plus an index ``(alias,
  statement_id)``; on SQLite a WITHOUT ROWID table, so the key is the table.

On SQLite both tables are rebuilt and their rows copied (SQLite cannot change a table's
constraints in place); on PostgreSQL the constraints and indexes change in place.

Revision ID: 0019
Revises: 0017 (statement_aliases; evidence as 0012 left it)
Create Date: 2026-11-29 05:00:00
"""

from alembic import op

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def _alias_key(key: list[str], with_rowid: bool) -> None:
    """SQLite: rebuild statement_aliases with its primary key in ``key`` order."""
    with op.batch_alter_table('statement_aliases', recreate='always',
                              table_kwargs={'sqlite_with_rowid': with_rowid}) as batch_op:
        batch_op.create_primary_key('pk_statement_aliases', key)


def upgrade() -> None:
    op.drop_index('ix_statement_aliases_alias', table_name='statement_aliases')
    if op.get_bind().dialect.name == 'sqlite':
        _alias_key(['alias', 'statement_id'], with_rowid=False)
        with op.batch_alter_table('evidence', recreate='always') as batch_op:
            batch_op.drop_constraint('uq_evidence_key', type_='unique')
            batch_op.drop_index('ix_evidence_statement_id')
            batch_op.create_unique_constraint('uq_evidence_statement_id_key',
                                              ['statement_id', 'key'])
        return
    op.drop_constraint('pk_statement_aliases', 'statement_aliases', type_='primary')
    op.create_primary_key('pk_statement_aliases', 'statement_aliases', ['alias', 'statement_id'])
    op.create_unique_constraint('uq_evidence_statement_id_key', 'evidence',
                                ['statement_id', 'key'])
    op.drop_constraint('uq_evidence_key', 'evidence', type_='unique')
    op.drop_index('ix_evidence_statement_id', table_name='evidence')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('evidence', recreate='always') as batch_op:
            batch_op.drop_constraint('uq_evidence_statement_id_key', type_='unique')
            batch_op.create_unique_constraint('uq_evidence_key', ['key'])
            batch_op.create_index('ix_evidence_statement_id', ['statement_id'])
        _alias_key(['statement_id', 'alias'], with_rowid=True)
    else:
        op.create_index('ix_evidence_statement_id', 'evidence', ['statement_id'])
        op.create_unique_constraint('uq_evidence_key', 'evidence', ['key'])
        op.drop_constraint('uq_evidence_statement_id_key', 'evidence', type_='unique')
        op.drop_constraint('pk_statement_aliases', 'statement_aliases', type_='primary')
        op.create_primary_key('pk_statement_aliases', 'statement_aliases',
                              ['statement_id', 'alias'])
    op.create_index('ix_statement_aliases_alias', 'statement_aliases', ['alias', 'statement_id'])
