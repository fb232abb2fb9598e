"""Quarantine: forwarded statements that failed validation, kept with their reasons until an
admin re-admits (after a fix) or discards them. They never reach processing while held."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.tables import quarantine

STATUSES = ("held", "readmitted", "discarded")


@dataclass(frozen=True, slots=True)
class Held:
    id: int
    source_id: int | None
    statement_id: str | None
    body: object
    problems: list[dict]
    received_at: datetime
    last_received_at: datetime
    occurrences: int
    status: str
    resolved_at: datetime | None
    resolution: str | None

    def as_dict(self, with_body: bool = True) -> dict:
        out = {
            "id": self.id,
            "source_id": self.source_id,
            "statement_id": self.statement_id,
            "problems": self.problems,
            "received_at": self.received_at.isoformat(),
            "last_received_at": self.last_received_at.isoformat(),
            "occurrences": self.occurrences,
            "status": self.status,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolution": self.resolution,
        }
        if with_body:
            out["statement"] = self.body
        return out


def _held(row) -> Held:
    m = row._mapping
    return Held(
        id=m["id"],
        source_id=m["source_id"],
        statement_id=m["statement_id"],
        body=orjson.loads(m["body"]),
        problems=m["problems"],
        received_at=m["received_at"],
        last_received_at=m["last_received_at"],
        occurrences=m["occurrences"],
        status=m["status"],
        resolved_at=m["resolved_at"],
        resolution=m["resolution"],
    )


def hold(
    conn: Connection,
    *,
    source_id: int | None,
    body: object,
    problems: list[dict],
    received_at: datetime,
) -> int:
    """Keep an invalid statement; the same content forwarded again is counted, not duplicated."""
    try:
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # Nested beyond what can be stored (orjson stops at 254 levels): keep what identifies it.
        declared = body.get("id") if isinstance(body, dict) else None
        body = {"id": declared, "unstorable": "nested too deep to keep; ask the sender"}
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(text).hexdigest()
    statement_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(statement_id, str) or len(statement_id) > 64:
        statement_id = None
    existing = conn.execute(
        sa.select(quarantine.c.id).where(
            quarantine.c.body_hash == digest, quarantine.c.status == "held"
        )
    ).scalar()
    if existing is not None:
        conn.execute(
            quarantine.update()
            .where(quarantine.c.id == existing)
            .values(occurrences=quarantine.c.occurrences + 1, last_received_at=received_at)
        )
        return existing
    return conn.execute(
        quarantine.insert()
        .values(
            source_id=source_id,
            statement_id=statement_id,
            body_hash=digest,
            body=text.decode(),
            problems=problems,
            received_at=received_at,
            last_received_at=received_at,
            occurrences=1,
            status="held",
        )
        .returning(quarantine.c.id)
    ).scalar_one()


def get(conn: Connection, held_id: int) -> Held | None:
    row = conn.execute(sa.select(quarantine).where(quarantine.c.id == held_id)).first()
    return None if row is None else _held(row)


def page(
    conn: Connection, *, status: str | None = "held", after: int = 0, limit: int = 50
) -> list[Held]:
    """Keyset page in id order: pass the last id seen as `after`."""
    query = sa.select(quarantine).where(quarantine.c.id > after)
    if status:
        query = query.where(quarantine.c.status == status)
    rows = conn.execute(query.order_by(quarantine.c.id).limit(limit))
    return [_held(r) for r in rows]


def resolve(conn: Connection, held_id: int, status: str, resolution: str) -> None:
    conn.execute(
        quarantine.update()
        .where(quarantine.c.id == held_id)
        .values(status=status, resolution=resolution, resolved_at=datetime.now(UTC))
    )


def count_held(conn: Connection) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.status == "held")
    ).scalar_one()
