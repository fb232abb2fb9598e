"""readiness cells and roles as WITHOUT ROWID tables on SQLite: they are only ever read and
written by their primary key (learner, target or role), so each row lives in one b-tree, a
learner's rows side by side, rather than in a rowid table plus the index of its key; a
processing batch's upserts touch half the pages. PostgreSQL is unchanged.

The tables are rebuilt and their rows copied (SQLite cannot change this in place).

Revision ID: 0018
Revises: 0012 (the last change to readiness_cells)
Create Date: 2026-11-29 01:45:00
"""

from alembic import op

revision = '0018'
down_revision = '0012'
branch_labels = None
depends_on = None


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in ('readiness_cells', 'readiness_roles'):
        with op.batch_alter_table(table, recreate='always',
                                  table_kwargs={'sqlite_with_rowid': with_rowid}):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
