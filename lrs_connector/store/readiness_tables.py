"""Readiness: current scores per learner x target and learner x role, their history, the outbox.

`readiness_cells` keeps, per learner and target, the decay-free state of its evidence (see
lrs_connector.readiness.scoring.CellState) so roll-ups can score untouched cells at any moment
without reading their evidence, and new evidence extends a cell without reading the old.
`readiness_roles` holds the current score and level per role. On SQLite both are WITHOUT ROWID
tables (migration 0018): their primary key is the only way they are read or written, so a row
lives in one b-tree, a learner's rows side by side, instead of a rowid table plus an index;
`readiness_snapshots` a row each time one changed (the time series); `outbox` what changed for
whom, for the LMS push (delivery is not done here).
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import BigId, Timestamp, metadata

readiness_cells = sa.Table(
    "readiness_cells",
    metadata,
    sa.Column("learner_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("target", sa.String(2048), primary_key=True),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("scale", sa.BigInteger, nullable=False),
    sa.Column("counted", sa.Integer, nullable=False),
    sa.Column("next_change", Timestamp(), nullable=True),
    sa.Column("proficiency", sa.Float, nullable=False),
    sa.Column("computed_at", Timestamp(), nullable=False),
    # the exact sum (hex integer), its oldest item's whole half-lives, the highest evidence id
    # counted and the model fingerprint: what extending the cell with new evidence needs
    sa.Column("exact", sa.Text, nullable=True),
    sa.Column("low", sa.BigInteger, nullable=True),
    sa.Column("upto", sa.BigInteger, nullable=True),
    sa.Column("model", sa.String(16), nullable=True),
    sqlite_with_rowid=False,
)

readiness_roles = sa.Table(
    "readiness_roles",
    metadata,
    sa.Column("learner_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("role", sa.String(2048), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("level", sa.String(100), nullable=False),
    sa.Column("computed_at", Timestamp(), nullable=False),
    sqlite_with_rowid=False,
)

readiness_snapshots = sa.Table(
    "readiness_snapshots",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("learner_id", sa.BigInteger, nullable=False),
    sa.Column("role", sa.String(2048), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("level", sa.String(100), nullable=False),
    sa.Column("computed_at", Timestamp(), nullable=False),
)
sa.Index("ix_readiness_snapshots_learner_id_role_id", readiness_snapshots.c.learner_id,
         readiness_snapshots.c.role, readiness_snapshots.c.id)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("learner_id", sa.BigInteger, nullable=False),
    sa.Column("role", sa.String(2048), nullable=True),
    # what the entry is about: "role" (a role readiness score or level changed)
    sa.Column("target_kind", sa.String(16), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    # pending: waiting for delivery; later issues add delivered / failed …
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
)
sa.Index("ix_outbox_status_id", outbox.c.status, outbox.c.id)
