"""Table definitions (SQLAlchemy Core). Alembic migrations in `migrations/versions` create them.

Statements keep their full JSON as text, exactly as stored (normalised by the connector), plus
the few columns that queries filter on. `seq` gives every statement a stable arrival order for
keyset pagination and streaming replays.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Timestamp(sa.TypeDecorator):
    """Aware UTC datetimes on both databases (SQLite would otherwise drop the offset)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def driver_time(conn: Connection, moment: datetime | None):
    """What `Timestamp` binds, for hot paths that write through the driver cursor: naive UTC,
    on SQLite the text SQLAlchemy writes ("YYYY-MM-DD HH:MM:SS.ffffff"; isoformat is several
    times faster than strftime and pads years before 1000 as SQLAlchemy does)."""
    if moment is None:
        return None
    naive = (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).replace(tzinfo=None)
    if conn.dialect.name == "sqlite":
        return naive.isoformat(" ", "microseconds")
    return naive


def driver_times(conn: Connection) -> Callable[[datetime | None], object]:
    """`driver_time`, memoised for one batch, whose rows share a few moments."""
    memo: dict[datetime, object] = {}

    def convert(moment: datetime | None):
        if moment is None:
            return None
        value = memo.get(moment)
        if value is None:
            value = memo[moment] = driver_time(conn, moment)
        return value

    return convert


sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("rotated_at", Timestamp(), nullable=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("rotated_at", Timestamp(), nullable=True),
)

statements = sa.Table(
    "statements",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id"), nullable=True),
    sa.Column("received_via", sa.String(16), nullable=False),
    sa.Column("received_at", Timestamp(), nullable=False),
    sa.Column("timestamp", Timestamp(), nullable=False),
    sa.Column("verb_id", sa.Text, nullable=False),
    sa.Column("object_type", sa.String(16), nullable=False),
    sa.Column("object_id", sa.Text, nullable=True),
    sa.Column("registration", sa.String(36), nullable=True),
    sa.Column("voids", sa.String(36), nullable=True),
    sa.Column("voided", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("body", sa.Text, nullable=False),
)
# Only voiding statements have `voids`; a partial index keeps intake's inserts cheap.
sa.Index(
    "ix_statements_voids",
    statements.c.voids,
    sqlite_where=statements.c.voids.isnot(None),
    postgresql_where=statements.c.voids.isnot(None),
)

processing_queue = sa.Table(
    "processing_queue",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("statement_id", sa.String(36), nullable=False),
    # "stored": a new statement to map; "voided": a stored statement that must stop counting.
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("enqueued_at", Timestamp(), nullable=False),
    # X-Request-Id of the request that stored the statement, so processing logs it (logs.py)
    sa.Column("request_id", sa.String(64), nullable=True),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id"), nullable=True),
    sa.Column("statement_id", sa.String(64), nullable=True, index=True),
    sa.Column("body_hash", sa.String(64), nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("problems", sa.JSON, nullable=False),
    sa.Column("received_at", Timestamp(), nullable=False),
    sa.Column("last_received_at", Timestamp(), nullable=False),
    sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
    # held: waiting for an admin; readmitted: stored after a fix; discarded: dropped on purpose.
    sa.Column("status", sa.String(16), nullable=False, server_default="held"),
    sa.Column("resolved_at", Timestamp(), nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
)
sa.Index("ix_quarantine_status_id", quarantine.c.status, quarantine.c.id)


def _load_feature_tables() -> None:
    """Feature areas declare their tables in `store/<area>_tables.py` on this same metadata;
    loading them here lets migrations, the schema test and every query see one schema."""
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if module.name.endswith("_tables"):
            importlib.import_module(f"{package}.{module.name}")


_load_feature_tables()
