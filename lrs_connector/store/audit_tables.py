"""The audit console's indexes (statement browser; the coverage index on evidence targets is
declared with the evidence table, store/mapping_tables.py) and the counters behind its Rules
and Coverage pages.

The console lists statements newest first (`timestamp`, then `seq`) under filters; each filter
has an index that ends in (timestamp, seq) so a page is an index range read, never a sort.
Verb and activity ids are unbounded IRIs: PostgreSQL refuses B-tree entries over ~2.7 kB, so
those indexes hold the first 400 characters (`substr`), and queries repeat the same expression
(with literal arguments, or the planner would not recognise it) plus an exact comparison.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import metadata, statements

IRI_PREFIX = 400


def iri_prefix(column: sa.ColumnElement) -> sa.ColumnElement:
    """`substr(column, 1, 400)` as the indexes spell it (literal arguments, not binds)."""
    return sa.func.substr(column, sa.literal_column("1"), sa.literal_column(str(IRI_PREFIX)))


sa.Index("ix_statements_timestamp_seq", statements.c.timestamp, statements.c.seq)
sa.Index("ix_statements_verb_timestamp_seq", iri_prefix(statements.c.verb_id),
         statements.c.timestamp, statements.c.seq)
sa.Index("ix_statements_object_timestamp_seq", iri_prefix(statements.c.object_id),
         statements.c.timestamp, statements.c.seq)
sa.Index("ix_statements_source_id_timestamp_seq", statements.c.source_id,
         statements.c.timestamp, statements.c.seq)
# Voided statements are few: a partial index keeps intake's inserts cheap.
sa.Index(
    "ix_statements_voided_timestamp_seq",
    statements.c.timestamp,
    statements.c.seq,
    sqlite_where=statements.c.voided == sa.true(),
    postgresql_where=statements.c.voided == sa.true(),
)

# Counters behind the Rules and Coverage pages (store/audit_counts.py), kept by the
# transactions that change evidence, so the pages read a few rows at any size.
rule_hits = sa.Table(
    "audit_rule_hits",
    metadata,
    sa.Column("mapping_version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("rule_id", sa.String(200), primary_key=True),
    sa.Column("statements", sa.BigInteger, nullable=False),
)
# Statements processed that no rule maps (not voided, not voiding): the members, and their
# count per verb and per activity id (`kind`, a hash of the value as key: IRIs are unbounded).
unmapped = sa.Table(
    "audit_unmapped",
    metadata,
    sa.Column("statement_id", sa.String(36), primary_key=True),
    sa.Column("verb_id", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text, nullable=True),
)
unmapped_counts = sa.Table(
    "audit_unmapped_counts",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("statements", sa.BigInteger, nullable=False),
)
sa.Index("ix_audit_unmapped_counts_kind_statements", unmapped_counts.c.kind,
         unmapped_counts.c.statements)
