"""Indexes for the audit console's statement browser and coverage (no tables of its own).

The console lists statements newest first (`timestamp`, then `seq`) under filters; each filter
has an index that ends in (timestamp, seq) so a page is an index range read, never a sort.
Verb and activity ids are unbounded IRIs: PostgreSQL refuses B-tree entries over ~2.7 kB, so
those indexes hold the first 400 characters (`substr`), and queries repeat the same expression
(with literal arguments, or the planner would not recognise it) plus an exact comparison.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.mapping_tables import evidence
from lrs_connector.store.tables import statements

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
# Coverage: "does any evidence feed this competency" per framework target. Targets are
# framework IRIs that rules must name (bounded, known), so the column is indexed as is.
sa.Index("ix_evidence_target", evidence.c.target)
