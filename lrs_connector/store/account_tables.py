"""Local accounts of the web consoles, their sign-in sessions and login throttle counters
(see lrs_connector.accounts). Passwords are stored only as Argon2id hashes, session tokens
only as SHA-256 hashes."""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import Timestamp, metadata

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("password_changed_at", Timestamp(), nullable=False),
    sa.Column("last_login_at", Timestamp(), nullable=True),
)

ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("last_seen_at", Timestamp(), nullable=False),
)
sa.Index("ix_ui_sessions_account_id", ui_sessions.c.account_id)

# One row per throttled key: "account:<username>" or "address:<client address>".
login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", Timestamp(), nullable=False),
    sa.Column("locked_until", Timestamp(), nullable=True),
)
