"""Periodic jobs: when each last ran, so that several workers (and restarts) run a daily job
once a day, not once per process."""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import Timestamp, metadata

schedule = sa.Table(
    "schedule",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_run", Timestamp(), nullable=False),
)
