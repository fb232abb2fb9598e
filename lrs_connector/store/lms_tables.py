"""Delivery to LMS targets: one row per learner x role x target holding the newest change,
the LMS users learners were resolved to, and the LTI tool's signing keys.

`deliveries` is the coalesced, per-target view of the outbox: a newer change for the same
learner, role and target replaces the payload and bumps `version`, so only the newest is sent
and a delivery acknowledged for an older version stays pending.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import BigId, Timestamp, metadata

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("learner_id", sa.BigInteger, nullable=False),
    sa.Column("role", sa.String(2048), nullable=False),
    sa.Column("outbox_id", sa.BigInteger, nullable=False),  # the newest change coalesced here
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # pending | delivering | delivered | unresolved | dead
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp(), nullable=False),
    sa.Column("lease_until", Timestamp(), nullable=True),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("outcome", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.Column("delivered_at", Timestamp(), nullable=True),
    sa.UniqueConstraint("target", "learner_id", "role"),
)
sa.Index("ix_deliveries_status_next_attempt_at", deliveries.c.status,
         deliveries.c.next_attempt_at)
sa.Index("ix_deliveries_learner_id", deliveries.c.learner_id)

lms_users = sa.Table(
    "lms_users",
    metadata,
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("learner_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.String(255), nullable=True),  # NULL: looked up, not found
    sa.Column("method", sa.String(32), nullable=False),  # account | email | … | manual
    sa.Column("resolved_at", Timestamp(), nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("private_pem", sa.Text, nullable=False),
    sa.Column("public_jwk", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    # a retired key is still published (tokens signed with it may be in flight), never used
    sa.Column("retired_at", Timestamp(), nullable=True),
)
