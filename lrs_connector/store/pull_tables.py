"""Tables of the pull side of intake: LRSs the connector polls, and file backfill checkpoints.

A pull source is not a `sources` row: those are credentials for callers into the connector,
while a pull source holds how to reach an LRS. The LRS password itself is never stored, only
a reference to where it is kept (`env:VAR` or `file:/path`), see lrs_connector/store/pull.py.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import BigId, Timestamp, metadata

pull_sources = sa.Table(
    "pull_sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    # The LRS's xAPI base URL, e.g. https://lrs.example.org/data/xAPI/ (statements is below it).
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("username", sa.String(200), nullable=False, server_default=""),
    sa.Column("password_ref", sa.String(500), nullable=False, server_default=""),
    sa.Column("xapi_version", sa.String(8), nullable=False, server_default="1.0.3"),
    sa.Column("interval_seconds", sa.Float, nullable=False, server_default="60"),
    sa.Column("timeout_seconds", sa.Float, nullable=False, server_default="30"),
    sa.Column("lookback_seconds", sa.Float, nullable=False, server_default="300"),
    sa.Column("page_size", sa.Integer, nullable=False, server_default="500"),
    # {"verb": IRI, "activity": IRI, "related_activities": bool}; sent as query parameters.
    sa.Column("filters", sa.JSON, nullable=False),
    # Statements pulled are attributed to this source (one that may also forward), if set.
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id"), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Timestamp(), nullable=False),
    # Cursor: newest `stored` of a completely committed pull; the next pull asks since it
    # (minus lookback_seconds). A pull in progress keeps its next `more` link and the newest
    # `stored` seen so far, so an interrupted pull resumes where its last page committed.
    sa.Column("cursor_stored", Timestamp(), nullable=True),
    sa.Column("chain_more", sa.Text, nullable=True),
    sa.Column("chain_stored", Timestamp(), nullable=True),
    # Lease: which process polls it now, until when (renewed at every committed page).
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_until", Timestamp(), nullable=True),
    # For the admin: outcome of the latest attempts.
    sa.Column("next_attempt_at", Timestamp(), nullable=True),
    sa.Column("last_attempt_at", Timestamp(), nullable=True),
    sa.Column("last_success_at", Timestamp(), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", Timestamp(), nullable=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pulled_total", sa.BigInteger, nullable=False, server_default="0"),
)

backfill_files = sa.Table(
    "backfill_files",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # Identity of a file: resolved path, size and a hash of its first 64 KiB.
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    # Statements read and committed so far (the resume point), and what became of them.
    sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("stored", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("started_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
)

# A rejects report (its resolved path, keyed by its SHA-256: paths may outgrow an index entry)
# and its length when the last batch that wrote to it committed: whatever lies past that
# length is of a batch that did not commit.
backfill_reports = sa.Table(
    "backfill_reports",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("committed_bytes", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
)
