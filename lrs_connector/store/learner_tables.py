"""Learners and their aliases (identifiers seen in statements); see lrs_connector.learners.

An alias key belongs to exactly one learner (unique). A learner merged into another keeps a
row with `merged_into` set, so links and audit trails that name it can still be followed.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import BigId, Timestamp, metadata

learners = sa.Table(
    "learners",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("merged_into", sa.BigInteger, sa.ForeignKey("learners.id"), nullable=True),
    sa.Column("merged_at", Timestamp(), nullable=True),
)

learner_aliases = sa.Table(
    "learner_aliases",
    metadata,
    sa.Column("alias", sa.String(512), primary_key=True),
    sa.Column("learner_id", sa.BigInteger, sa.ForeignKey("learners.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
)
sa.Index("ix_learner_aliases_learner_id", learner_aliases.c.learner_id)

# Who each processed statement names (its actor, or a group's identified members), by alias:
# the audit console finds a learner's statements through their aliases, mapped or not, and
# merges and splits need nothing here (they move aliases). Keyed alias first, the only way it
# is read; on SQLite the key is the table (WITHOUT ROWID, migration 0019): one b-tree to write.
statement_aliases = sa.Table(
    "statement_aliases",
    metadata,
    sa.Column("alias", sa.String(512), primary_key=True),
    sa.Column("statement_id", sa.String(36), primary_key=True),
    sqlite_with_rowid=False,
)
