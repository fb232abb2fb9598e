"""The processing queue: intake appends, workers take a batch and remove it in one transaction.

On PostgreSQL several workers take batches at once with `FOR UPDATE SKIP LOCKED`, so no entry
is handed to two workers. On SQLite the write transaction itself (`BEGIN IMMEDIATE`) gives each
worker the queue alone. A worker that dies mid-batch rolls back, and the entries stay queued.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.tables import processing_queue


@dataclass(frozen=True, slots=True)
class QueueEntry:
    seq: int
    statement_id: str
    event: str
    request_id: str | None = None  # of the request that stored it (None: pulled, replayed)


def take(conn: Connection, limit: int) -> list[QueueEntry]:
    """Claim up to `limit` oldest entries and delete them; the caller's commit makes it final."""
    q = processing_queue.c
    query = sa.select(q.seq, q.statement_id, q.event, q.request_id).order_by(q.seq).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    entries = [
        QueueEntry(r.seq, r.statement_id, r.event, r.request_id) for r in conn.execute(query)
    ]
    if entries:
        conn.execute(
            processing_queue.delete().where(processing_queue.c.seq.in_([e.seq for e in entries]))
        )
    return entries


def depth(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(processing_queue)).scalar_one()


def peek(conn: Connection, limit: int) -> list[QueueEntry]:
    """The `limit` oldest entries, left in place (processing reads ahead with them)."""
    q = processing_queue.c
    query = sa.select(q.seq, q.statement_id, q.event, q.request_id).order_by(q.seq).limit(limit)
    return [QueueEntry(r.seq, r.statement_id, r.event, r.request_id) for r in conn.execute(query)]
