"""audit counters: statements per rule and mapping version, and statements no rule maps per
verb and activity, kept by processing and replays (store/audit_counts.py); filled here from
the evidence and statements already stored

Revision ID: 0016
Revises: 0012 (evidence as it is now)
Create Date: 2026-11-28 20:10:00
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_rule_hits',
        sa.Column('mapping_version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('rule_id', sa.String(length=200), nullable=False),
        sa.Column('statements', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('mapping_version', 'rule_id', name=op.f('pk_audit_rule_hits')),
    )
    op.create_table(
        'audit_unmapped',
        sa.Column('statement_id', sa.String(length=36), nullable=False),
        sa.Column('verb_id', sa.Text(), nullable=False),
        sa.Column('object_id', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('statement_id', name=op.f('pk_audit_unmapped')),
    )
    op.create_table(
        'audit_unmapped_counts',
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.Column('statements', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_audit_unmapped_counts')),
    )
    op.create_index('ix_audit_unmapped_counts_kind_statements', 'audit_unmapped_counts',
                    ['kind', 'statements'])
    _fill()


def _fill() -> None:
    """Counts for what is stored already. Statements that gave no evidence count as unmapped
    only once processed; their queue entries tell which are still waiting."""
    bind = op.get_bind()
    false = "false" if bind.dialect.name == "postgresql" else "0"
    bind.execute(sa.text(
        "INSERT INTO audit_rule_hits (mapping_version, rule_id, statements) "
        "SELECT mapping_version, rule_id, COUNT(DISTINCT statement_id) FROM evidence "
        f"WHERE retracted = {false} GROUP BY mapping_version, rule_id"))
    bind.execute(sa.text(
        "INSERT INTO audit_unmapped (statement_id, verb_id, object_id) "
        "SELECT s.id, s.verb_id, s.object_id FROM statements s "
        f"WHERE s.voided = {false} AND s.voids IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.statement_id = s.id "
        f"AND e.retracted = {false}) "
        "AND NOT EXISTS (SELECT 1 FROM processing_queue q WHERE q.statement_id = s.id)"))
    for kind, column in (("verb", "verb_id"), ("activity", "object_id")):
        rows = bind.execute(sa.text(
            f"SELECT {column}, COUNT(*) FROM audit_unmapped GROUP BY {column}")).all()
        _insert_counts(bind, kind, rows)
    total = bind.execute(sa.text("SELECT COUNT(*) FROM audit_unmapped")).scalar()
    if total:
        _insert_counts(bind, "total", [("", total)])


def _insert_counts(bind, kind: str, rows) -> None:
    if rows:
        bind.execute(sa.text(
            "INSERT INTO audit_unmapped_counts (kind, key, value, statements) "
            "VALUES (:kind, :key, :value, :statements)"),
            [{"kind": kind, "key": hashlib.sha256((value or "").encode()).hexdigest(),
              "value": value, "statements": n} for value, n in rows])


def downgrade() -> None:
    op.drop_index('ix_audit_unmapped_counts_kind_statements', table_name='audit_unmapped_counts')
    op.drop_table('audit_unmapped_counts')
    op.drop_table('audit_unmapped')
    op.drop_table('audit_rule_hits')
