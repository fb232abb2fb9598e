"""Stored statements, voiding and the processing queue, on one connection (one transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store import database
from lrs_connector.store.tables import driver_time, processing_queue, statements
from lrs_connector.xapi.records import StatementRecord

# SQLite allows 32,766 bound parameters; stay far below for IN (...) lookups.
_LOOKUP_CHUNK = 500
_STATEMENT_COLUMNS = (
    "id",
    "source_id",
    "received_via",
    "received_at",
    "timestamp",
    "verb_id",
    "object_type",
    "object_id",
    "registration",
    "voids",
    "voided",
    "body",
)
_QUEUE_COLUMNS = ("statement_id", "event", "enqueued_at", "request_id")


def _cursor(conn: Connection):
    """A driver cursor inside the caller's transaction. Intake's hot path uses it directly:
    SQLAlchemy's per-statement and per-row processing cost more than the SQL itself
    (measured with bench/ingest.py)."""
    return conn.connection.cursor()


def _insert_many(conn: Connection, table: sa.Table, columns: Sequence[str], rows: list) -> None:
    mark = database.placeholder(conn)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    cursor = _cursor(conn)
    cursor.executemany(sql, rows)
    cursor.close()


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    statement: dict
    voided: bool
    voids: str | None


def find(conn: Connection, ids: Sequence[str]) -> dict[str, Stored]:
    """The stored statements among `ids`, voided or not."""
    found: dict[str, Stored] = {}
    for chunk in _chunks(ids):
        rows = _select_in(conn, "SELECT id, body, voided, voids FROM statements WHERE id", chunk)
        for sid, body, voided, voids in rows:
            found[sid] = Stored(sid, orjson.loads(body), bool(voided), voids)
    return found


def get(conn: Connection, statement_id: str) -> Stored | None:
    return find(conn, [statement_id.lower()]).get(statement_id.lower())


def insert(
    conn: Connection,
    records: Iterable[StatementRecord],
    *,
    source_id: int | None,
    via: str,
    received_at: datetime,
    request_id: str | None = None,
) -> list[str]:
    """Store new statements, apply voiding both ways, and queue them for processing (with the
    id of the request that brought them, which processing and delivery log).

    Voiding is order-independent: a voiding statement voids a target already stored, and a
    statement arriving after the statement that voids it is stored as voided. A voiding
    statement never voids another voiding statement (the spec forbids it).
    """
    records = list(records)
    if not records:
        return []
    ids = [r.id for r in records]
    voided_late = _voided_by_existing(conn, ids)
    at = driver_time(conn, received_at)
    rows = [
        (
            r.id,
            source_id,
            via,
            at,
            driver_time(conn, r.timestamp),
            r.verb_id,
            r.object_type,
            r.object_id,
            r.registration,
            r.voids,
            r.id in voided_late and r.voids is None,
            r.body(),
        )
        for r in records
    ]
    _insert_many(conn, statements, _STATEMENT_COLUMNS, rows)
    queued = [(i, "stored", at, request_id) for i in ids]
    _insert_many(conn, processing_queue, _QUEUE_COLUMNS, queued)

    targets = [r.voids for r in records if r.voids]
    if targets:
        newly_voided = _void(conn, targets)
        if newly_voided:
            conn.execute(
                processing_queue.insert(),
                [
                    {"statement_id": t, "event": "voided", "enqueued_at": received_at,
                     "request_id": request_id}
                    for t in newly_voided
                ],
            )
    return ids


def _voided_by_existing(conn: Connection, ids: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(ids):
        query = "SELECT voids FROM statements WHERE voids IS NOT NULL AND voids"
        out.update(row[0] for row in _select_in(conn, query, chunk))
    return out


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        yield ids[start : start + _LOOKUP_CHUNK]


def _select_in(conn: Connection, query: str, values: Sequence[str]) -> list[tuple]:
    """`query IN (values…)` at the driver level (hot path, like `_insert_many`)."""
    mark = database.placeholder(conn)
    return database.driver_rows(conn, f"{query} IN ({', '.join([mark] * len(values))})", values)


def _void(conn: Connection, targets: Sequence[str]) -> list[str]:
    """Mark targets voided; returns those whose state changed."""
    changed: list[str] = []
    for start in range(0, len(targets), _LOOKUP_CHUNK):
        chunk = targets[start : start + _LOOKUP_CHUNK]
        result = conn.execute(
            statements.update()
            .where(
                statements.c.id.in_(chunk),
                statements.c.voided.is_(False),
                statements.c.voids.is_(None),
            )
            .values(voided=True)
            .returning(statements.c.id)
        )
        changed.extend(result.scalars().all())
    return changed


def count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(statements)).scalar_one()
