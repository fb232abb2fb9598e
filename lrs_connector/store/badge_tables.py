"""Readiness badges: badge classes (one per role and level) and assertions (one per award).

A class keeps the texts it was first published with, so issued badges keep their meaning
when the framework changes. An assertion keeps only a salted hash of the recipient's email
(never the address); ``revoked_at`` set means it is on the issuer's revocation list, and
``revoked_by`` says who decided: ``readiness`` (the level fell), ``config`` (the level no
longer earns a badge) or ``admin`` (an admin revoked it; such a badge is not awarded again).
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import Timestamp, metadata

badge_classes = sa.Table(
    "badge_classes",
    metadata,
    sa.Column("id", sa.String(120), primary_key=True),
    sa.Column("role", sa.String(2048), nullable=False),
    sa.Column("level", sa.String(100), nullable=False),
    sa.Column("role_name", sa.String(300), nullable=False),  # as published (for the images)
    sa.Column("name", sa.String(400), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("criteria", sa.Text, nullable=False),
    sa.Column("alignment", sa.Text, nullable=False),  # JSON list of OB AlignmentObjects
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.UniqueConstraint("role", "level"),
)

badge_assertions = sa.Table(
    "badge_assertions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # random UUID: the public name
    sa.Column("class_id", sa.String(120), sa.ForeignKey("badge_classes.id"), nullable=False),
    sa.Column("learner_id", sa.BigInteger, nullable=False),
    sa.Column("recipient", sa.String(80), nullable=False),  # sha256$<hex>
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("issued_on", Timestamp(), nullable=False),
    sa.Column("narrative", sa.Text, nullable=False),
    sa.Column("revoked_at", Timestamp(), nullable=True),
    sa.Column("revoked_by", sa.String(16), nullable=True),
    sa.Column("revocation_reason", sa.String(500), nullable=True),
)
sa.Index("ix_badge_assertions_learner_id", badge_assertions.c.learner_id)
sa.Index("ix_badge_assertions_revoked_at", badge_assertions.c.revoked_at)
