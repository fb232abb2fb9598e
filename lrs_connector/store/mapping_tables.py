"""Mapping set versions and the evidence they derive from statements.

`mapping_versions` keeps every version's rules document as imported (the history); a partial
unique index allows one `published` version at a time. `evidence` rows are keyed by a hash of
(statement, member, rule, mapping version, target), unique with their statement id, so
reprocessing or replaying never adds duplicates; retracted rows stay (with why and when) for
the audit trail.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import BigId, Timestamp, metadata

mapping_versions = sa.Table(
    "mapping_versions",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    # draft: imported, may be tried with what-if; published: the one in force; retired: was.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("published_at", Timestamp(), nullable=True),
    sa.Column("retired_at", Timestamp(), nullable=True),
)
sa.Index(
    "uq_mapping_versions_published",
    mapping_versions.c.status,
    unique=True,
    sqlite_where=mapping_versions.c.status == "published",
    postgresql_where=mapping_versions.c.status == "published",
)

evidence = sa.Table(
    "evidence",
    metadata,
    # ids grow with every row written: a readiness cell remembers the highest it counts
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("statement_id", sa.String(36), nullable=False),
    sa.Column("learner_id", sa.BigInteger, sa.ForeignKey("learners.id"), nullable=False),
    # The actor's alias key that named the learner: `learners split` moves evidence by it.
    sa.Column("alias", sa.String(512), nullable=False),
    sa.Column("rule_id", sa.String(200), nullable=False),
    sa.Column("mapping_version", sa.Integer, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("polarity", sa.String(8), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("timestamp", Timestamp(), nullable=False),
    sa.Column("valid_until", Timestamp(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("retracted", sa.Boolean, nullable=False, server_default=sa.false()),
    # voided: the statement was voided; superseded: a replay under another mapping version.
    sa.Column("retraction", sa.String(16), nullable=True),
    sa.Column("retracted_at", Timestamp(), nullable=True),
    # A key hashes its statement id, so keys are as unique as (statement_id, key); one index
    # in that order both finds a statement's rows and keeps keys unique (migration 0019).
    sa.UniqueConstraint("statement_id", "key"),
)
# a readiness cell's evidence, and (by id) the part of it a stored cell does not count yet
sa.Index("ix_evidence_learner_id_target_id", evidence.c.learner_id, evidence.c.target,
         evidence.c.id)
sa.Index("ix_evidence_mapping_version_rule_id", evidence.c.mapping_version, evidence.c.rule_id)
# Coverage: "does any evidence feed this competency" per framework target. Targets are
# framework IRIs that rules must name (bounded, known), so the column is indexed as is.
sa.Index("ix_evidence_target", evidence.c.target)

# Evidence rows as the processing handlers read them (the audit counters, readiness): these
# columns, then `retracted` (store/evidence.py `of_statements`).
EVIDENCE_ROW_COLUMNS = (
    "learner_id, key, statement_id, target, rule_id, mapping_version, weight, polarity, kind, "
    "confidence, timestamp, valid_until, id"
)
