"""The processing queue: intake appends, workers take a batch and remove it in one transaction.

On PostgreSQL several workers take batches at once with `FOR UPDATE SKIP LOCKED`, so no entry
is handed to two workers. On SQLite the write transaction itself (`BEGIN IMMEDIATE`) gives each
worker the queue alone. A worker that dies mid-batch rolls back, and the entries stay queued.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store import database
from lrs_connector.store.tables import processing_queue

_CHUNK = 500  # entries deleted per statement: well under SQLite's bound-parameter limit


class QueueEntry(NamedTuple):
    """A queued event (a named tuple: a batch reads hundreds, twice on SQLite)."""

    seq: int
    statement_id: str
    event: str
    request_id: str | None = None  # of the request that stored it (None: pulled, replayed)


def take(conn: Connection, limit: int) -> list[QueueEntry]:
    """Claim up to `limit` oldest entries and delete them; the caller's commit makes it final.
    Through the driver cursor: once per batch, SQLAlchemy's statement building (on PostgreSQL an
    IN list of every taken entry) cost more than the SQL."""
    mark = database.placeholder(conn)
    lock = " FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else ""
    cursor = conn.connection.cursor()
    try:
        entries = _oldest(cursor, limit, lock)
        if entries and not lock:  # SQLite: the only writer read the whole head; delete it at once
            cursor.execute(f"DELETE FROM processing_queue WHERE seq <= {mark}",
                           (entries[-1].seq,))
            return entries
        for start in range(0, len(entries), _CHUNK):
            chunk = [e.seq for e in entries[start : start + _CHUNK]]
            cursor.execute(
                f"DELETE FROM processing_queue WHERE seq IN ({', '.join([mark] * len(chunk))})",
                chunk,
            )
    finally:
        cursor.close()
    return entries


def depth(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(processing_queue)).scalar_one()


def peek(conn: Connection, limit: int) -> list[QueueEntry]:
    """The `limit` oldest entries, left in place (processing reads ahead with them)."""
    cursor = conn.connection.cursor()
    try:
        return _oldest(cursor, limit)
    finally:
        cursor.close()


def _oldest(cursor, limit: int, lock: str = "") -> list[QueueEntry]:
    cursor.execute(
        "SELECT seq, statement_id, event, request_id FROM processing_queue "
        f"ORDER BY seq LIMIT {int(limit)}{lock}"
    )
    return [QueueEntry(*row) for row in cursor.fetchall()]
