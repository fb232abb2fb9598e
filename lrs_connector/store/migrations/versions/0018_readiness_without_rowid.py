"""readiness cells and roles as WITHOUT ROWID tables on SQLite: they are only ever read and
written by their primary key (learner, target or role), so each row lives in one b-tree, a
learner's rows side by side, rather than in a rowid table plus the index of its key; a
processing batch's upserts touch half the pages. PostgreSQL is unchanged.

The tables are rebuilt and their rows copied (SQLite cannot change this in place).

Revision ID: 0018
Revises: 0012 (the last change to readiness_cells)
Create Date: 2026-11-29 01:45:00
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables

revision = '0018'
down_revision = '0012'
branch_labels = None
depends_on = None


def _cells(name: str, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column('learner_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('target', sa.String(length=2048), nullable=False),
        sa.Column('total', sa.Float(), nullable=False),
        sa.Column('scale', sa.BigInteger(), nullable=False),
        sa.Column('counted', sa.Integer(), nullable=False),
        sa.Column('next_change', lrs_connector.store.tables.Timestamp(), nullable=True),
        sa.Column('proficiency', sa.Float(), nullable=False),
        sa.Column('computed_at', lrs_connector.store.tables.Timestamp(), nullable=False),
        sa.Column('exact', sa.Text(), nullable=True),
        sa.Column('low', sa.BigInteger(), nullable=True),
        sa.Column('upto', sa.BigInteger(), nullable=True),
        sa.Column('model', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('learner_id', 'target', name='pk_readiness_cells'),
        sqlite_with_rowid=with_rowid,
    )


def _roles(name: str, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column('learner_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('role', sa.String(length=2048), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('level', sa.String(length=100), nullable=False),
        sa.Column('computed_at', lrs_connector.store.tables.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint('learner_id', 'role', name='pk_readiness_roles'),
        sqlite_with_rowid=with_rowid,
    )


_COLUMNS = {
    'readiness_cells': "learner_id, target, total, scale, counted, next_change, proficiency, "
                       "computed_at, exact, low, upto, model",
    'readiness_roles': "learner_id, role, score, level, computed_at",
}


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table, create in (('readiness_cells', _cells), ('readiness_roles', _roles)):
        create(f'{table}_rebuilt', with_rowid)
        columns = _COLUMNS[table]
        op.execute(f"INSERT INTO {table}_rebuilt ({columns}) SELECT {columns} FROM {table}")
        op.drop_table(table)
        op.rename_table(f'{table}_rebuilt', table)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
