"""Stored statements, voiding and the processing queue, on one connection (one transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.tables import processing_queue, statements
from lrs_connector.xapi.records import StatementRecord

# SQLite allows 32,766 bound parameters; stay far below for IN (...) lookups.
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    statement: dict
    voided: bool
    voids: str | None


def find(conn: Connection, ids: Sequence[str]) -> dict[str, Stored]:
    """The stored statements among `ids`, voided or not."""
    found: dict[str, Stored] = {}
    cols = (statements.c.id, statements.c.body, statements.c.voided, statements.c.voids)
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        for row in conn.execute(sa.select(*cols).where(statements.c.id.in_(chunk))):
            found[row.id] = Stored(row.id, orjson.loads(row.body), row.voided, row.voids)
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
) -> list[str]:
    """Store new statements, apply voiding both ways, and queue them for processing.

    Voiding is order-independent: a voiding statement voids a target already stored, and a
    statement arriving after the statement that voids it is stored as voided. A voiding
    statement never voids another voiding statement (the spec forbids it).
    """
    records = list(records)
    if not records:
        return []
    ids = [r.id for r in records]
    voided_late = _voided_by_existing(conn, ids)
    rows = [
        {
            "id": r.id,
            "source_id": source_id,
            "received_via": via,
            "received_at": received_at,
            "timestamp": r.timestamp,
            "verb_id": r.verb_id,
            "object_type": r.object_type,
            "object_id": r.object_id,
            "registration": r.registration,
            "voids": r.voids,
            "voided": r.id in voided_late and r.voids is None,
            "body": r.body(),
        }
        for r in records
    ]
    conn.execute(statements.insert(), rows)
    queue = [
        {"statement_id": r.id, "event": "stored", "enqueued_at": received_at} for r in records
    ]
    conn.execute(processing_queue.insert(), queue)

    targets = [r.voids for r in records if r.voids]
    if targets:
        newly_voided = _void(conn, targets)
        if newly_voided:
            conn.execute(
                processing_queue.insert(),
                [
                    {"statement_id": t, "event": "voided", "enqueued_at": received_at}
                    for t in newly_voided
                ],
            )
    return ids


def _voided_by_existing(conn: Connection, ids: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        out.update(
            conn.execute(sa.select(statements.c.voids).where(statements.c.voids.in_(chunk)))
            .scalars()
            .all()
        )
    return out


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
