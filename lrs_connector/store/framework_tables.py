"""Tables for imported competency frameworks (see lrs_connector/store/frameworks.py).

A framework is kept whole as its native JSON document: it is read as a unit (to resolve
targets, walk the hierarchy, export), never queried competency by competency. The bundled
framework is not stored here; it is served from package data unless someone imports a
framework with the same IRI and version.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrs_connector.store.tables import BigId, Timestamp, metadata

frameworks = sa.Table(
    "frameworks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("iri", sa.String(2048), nullable=False),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # "case": imported from a 1EdTech CASE package; "file": a native framework document.
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("imported_at", Timestamp(), nullable=False),
    sa.UniqueConstraint("iri", "version"),
)
