"""Tables of the admin console: the last check of each LMS target.

Kept in the database, not in a process's memory, so every web process shows the same result
and it survives restarts.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import Timestamp, metadata

target_checks = sa.Table(
    "target_checks",
    metadata,
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("checked_at", Timestamp(), nullable=False),
    sa.Column("checked_by", sa.String(100), nullable=False),  # the admin's username
    sa.Column("ok", sa.Boolean, nullable=False),
    # JSON list of {"check", "ok", "message", "fix"}, bounded by store/console_admin.py
    sa.Column("findings", sa.Text, nullable=False),
)
