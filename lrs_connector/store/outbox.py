"""The outbox and its deliveries: fan readiness changes out to targets, take, acknowledge, retry.

Readiness writes `outbox` rows in the transaction that changed a score. `fan_out` turns each
into one `deliveries` row per configured target, keyed by target x learner x role, so a newer
change replaces an older one that was not sent yet (coalescing): `version` counts the changes
seen, and acknowledging a delivery whose version moved on leaves it pending for the newest.

A delivery is taken with a lease (`delivering`, `lease_until`); the LMS call happens outside any
transaction; `finish` or `fail` records the outcome. A worker that dies in between leaves the
lease to expire and another worker delivers again, so targets write idempotently. `attempts`
identifies one take: an outcome reported for an older take is ignored. On PostgreSQL takes use
`FOR UPDATE SKIP LOCKED`, so two workers never hold one row at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.learner_tables import learner_aliases, learners
from lrs_connector.store.lms_tables import deliveries, lms_users
from lrs_connector.store.readiness_tables import outbox

STATUSES = ("pending", "delivering", "delivered", "unresolved", "dead", "discarded")
#: Statuses an admin may retry (send again from the first attempt).
RETRYABLE = ("dead", "unresolved", "discarded", "delivered")
MAX_ERROR = 1000


@dataclass(frozen=True)
class Taken:
    id: int
    target: str
    learner_id: int
    role: str
    payload: dict[str, Any]
    version: int
    attempts: int


def fan_out(conn: Connection, targets: Sequence[str], now: datetime, limit: int = 1000) -> int:
    """Move up to `limit` pending outbox rows into deliveries for every target; returns how
    many outbox rows were dispatched. With no target configured the rows are only marked, and
    `lms resend` delivers current readiness once a target is added."""
    query = (
        sa.select(outbox.c.id, outbox.c.learner_id, outbox.c.role, outbox.c.payload)
        .where(outbox.c.status == "pending")
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return 0
    newest: dict[tuple[int, str], Any] = {}
    for row in rows:
        if row.role is not None:
            newest[(row.learner_id, row.role)] = row
    values = [
        {
            "target": target,
            "learner_id": row.learner_id,
            "role": row.role,
            "outbox_id": row.id,
            "payload": row.payload,
            "now": now,
        }
        for row in newest.values()
        for target in targets
    ]
    if values:
        upsert(conn, values)
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 500):
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(ids[start : start + 500]))
            .values(status="dispatched")
        )
    return len(rows)


_UPSERT = sa.text(
    "INSERT INTO deliveries (target, learner_id, role, outbox_id, payload, version, status, "
    "attempts, next_attempt_at, created_at, updated_at) "
    "VALUES (:target, :learner_id, :role, :outbox_id, :payload, 1, 'pending', 0, :now, :now, "
    ":now) "
    "ON CONFLICT (target, learner_id, role) DO UPDATE SET "
    "outbox_id = excluded.outbox_id, payload = excluded.payload, "
    "version = deliveries.version + 1, "
    "status = CASE WHEN deliveries.status = 'delivering' THEN 'delivering' ELSE 'pending' END, "
    "attempts = CASE WHEN deliveries.status = 'delivering' THEN deliveries.attempts ELSE 0 END, "
    "next_attempt_at = excluded.next_attempt_at, last_error = NULL, "
    "updated_at = excluded.updated_at "
    "WHERE excluded.outbox_id >= deliveries.outbox_id"
).bindparams(
    sa.bindparam("now", type_=deliveries.c.created_at.type),
)


def upsert(conn: Connection, values: list[dict[str, Any]]) -> None:
    """Insert or coalesce deliveries (target, learner_id, role, outbox_id, payload, now)."""
    conn.execute(_UPSERT, values)


def take(
    conn: Connection, target: str, now: datetime, lease_seconds: float, limit: int
) -> list[Taken]:
    """Lease up to `limit` due deliveries of one target (pending and due, or a lease expired)."""
    due = sa.or_(
        sa.and_(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now),
        sa.and_(deliveries.c.status == "delivering", deliveries.c.lease_until < now),
    )
    query = (
        sa.select(deliveries)
        .where(deliveries.c.target == target, due)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    conn.execute(
        deliveries.update()
        .where(deliveries.c.id.in_([r.id for r in rows]))
        .values(
            status="delivering",
            lease_until=lease_until,
            attempts=deliveries.c.attempts + 1,
            updated_at=now,
        )
    )
    return [
        Taken(r.id, r.target, r.learner_id, r.role, orjson.loads(r.payload), r.version,
              r.attempts + 1)
        for r in rows
    ]


def _held(taken: Taken):
    return sa.and_(
        deliveries.c.id == taken.id,
        deliveries.c.status == "delivering",
        deliveries.c.attempts == taken.attempts,
    )


def finish(conn: Connection, taken: Taken, outcome: str, now: datetime) -> bool:
    """Acknowledge a delivery; False when the lease was lost to another worker meanwhile.
    If a newer change arrived while delivering, the row goes back to pending for it."""
    superseded = deliveries.c.version != taken.version
    result = conn.execute(
        deliveries.update()
        .where(_held(taken))
        .values(
            status=sa.case((superseded, "pending"), else_="delivered"),
            attempts=sa.case((superseded, 0), else_=deliveries.c.attempts),
            next_attempt_at=sa.case((superseded, now), else_=deliveries.c.next_attempt_at),
            delivered_at=now,
            lease_until=None,
            last_error=None,
            outcome=outcome[:200],
            updated_at=now,
        )
    )
    return result.rowcount == 1


def fail(
    conn: Connection,
    taken: Taken,
    status: str,
    error: str,
    now: datetime,
    retry_at: datetime | None = None,
) -> bool:
    """Record a failed attempt: `pending` again at `retry_at`, `dead` or `unresolved`.
    A newer change that arrived meanwhile is tried at once instead, from the first attempt."""
    superseded = deliveries.c.version != taken.version
    result = conn.execute(
        deliveries.update()
        .where(_held(taken))
        .values(
            status=sa.case((superseded, "pending"), else_=status),
            attempts=sa.case((superseded, 0), else_=deliveries.c.attempts),
            next_attempt_at=sa.case((superseded, now), else_=retry_at or now),
            lease_until=None,
            last_error=error[:MAX_ERROR],
            updated_at=now,
        )
    )
    return result.rowcount == 1


def release(conn: Connection, items: Sequence[Taken], retry_at: datetime, now: datetime) -> None:
    """Hand back deliveries taken but not tried (their target just failed): not an attempt."""
    for item in items:
        conn.execute(
            deliveries.update()
            .where(_held(item))
            .values(status="pending", attempts=deliveries.c.attempts - 1,
                    next_attempt_at=retry_at, lease_until=None, updated_at=now)
        )


def retry(
    conn: Connection, now: datetime, ids: Sequence[int] = (), target: str | None = None,
    status: str | None = None,
) -> int:
    """Send chosen deliveries again from the first attempt (by id, or all of a status/target)."""
    query = deliveries.update().where(deliveries.c.status.in_(RETRYABLE))
    if ids:
        query = query.where(deliveries.c.id.in_(list(ids)))
    if target:
        query = query.where(deliveries.c.target == target)
    if status:
        query = query.where(deliveries.c.status == status)
    result = conn.execute(
        query.values(status="pending", attempts=0, next_attempt_at=now, last_error=None,
                     updated_at=now)
    )
    return result.rowcount


def discard(conn: Connection, ids: Sequence[int], now: datetime) -> int:
    """Give up on deliveries an admin decided not to send (kept for the record)."""
    result = conn.execute(
        deliveries.update()
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.status != "delivering")
        .values(status="discarded", lease_until=None, updated_at=now)
    )
    return result.rowcount


def _current_payloads(conn: Connection, pairs: Sequence[tuple[int, str]] | None) -> list:
    """(learner_id, role, payload JSON) of stored readiness: every score above 0, or `pairs`;
    only roles of the framework in force (a removed role's scores wait for a recompute)."""
    from lrs_connector.store.readiness import scorer
    from lrs_connector.store.readiness_tables import readiness_roles

    roles = scorer(conn).framework.roles
    query = sa.select(readiness_roles)
    if pairs is None:
        rows = conn.execute(query.where(readiness_roles.c.score > 0)).all()
    else:
        wanted = set(pairs)
        learners_wanted = sorted({learner for learner, _ in wanted})
        rows = [
            row
            for start in range(0, len(learners_wanted), 500)
            for row in conn.execute(query.where(
                readiness_roles.c.learner_id.in_(learners_wanted[start : start + 500])))
            if (row.learner_id, row.role) in wanted
        ]
    out = []
    for row in rows:
        if row.role not in roles:
            continue
        payload = {
            "learner_id": row.learner_id,
            "role": row.role,
            "role_code": roles[row.role].code,
            "score": round(row.score, 1),
            "level": row.level,
            "previous_score": None,
            "previous_level": None,
            "computed_at": row.computed_at.isoformat(),
        }
        out.append((row.learner_id, row.role, orjson.dumps(payload).decode()))
    return out


def resend_current(conn: Connection, target: str, now: datetime) -> int:
    """Queue every learner's current readiness for one target (a target added later)."""
    last = conn.execute(sa.select(sa.func.max(outbox.c.id))).scalar() or 0
    values = [
        {"target": target, "learner_id": learner, "role": role, "outbox_id": last,
         "payload": payload, "now": now}
        for learner, role, payload in _current_payloads(conn, None)
    ]
    for start in range(0, len(values), 500):
        upsert(conn, values[start : start + 500])
    return len(values)


def enqueue_current(conn: Connection, pairs: Sequence[tuple[int, str]], now: datetime) -> int:
    """An outbox entry with the current readiness of these learner x role pairs, for news the
    LMS should get although the score did not change (a badge awarded or revoked)."""
    rows = [
        {"learner_id": learner, "role": role, "target_kind": "role", "payload": payload,
         "created_at": now, "status": "pending"}
        for learner, role, payload in _current_payloads(conn, pairs)
    ]
    if rows:
        conn.execute(outbox.insert(), rows)
    return len(rows)


def listing(
    conn: Connection,
    *,
    status: str | None = None,
    target: str | None = None,
    learner_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Deliveries newest first, keyset-paginated by id (`after` = the last id seen)."""
    query = sa.select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if status:
        query = query.where(deliveries.c.status == status)
    if target:
        query = query.where(deliveries.c.target == target)
    if learner_id is not None:
        query = query.where(deliveries.c.learner_id == learner_id)
    if after is not None:
        query = query.where(deliveries.c.id < after)
    return [_as_dict(r) for r in conn.execute(query)]


def get(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).first()
    return None if row is None else _as_dict(row)


def _as_dict(row) -> dict[str, Any]:
    payload = orjson.loads(row.payload)
    return {
        "id": row.id,
        "target": row.target,
        "learner_id": row.learner_id,
        "role": row.role,
        "score": payload.get("score"),
        "level": payload.get("level"),
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_error": row.last_error,
        "outcome": row.outcome,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
    }


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Deliveries per target and status (metrics, /readyz, the admin console)."""
    rows = conn.execute(
        sa.select(deliveries.c.target, deliveries.c.status, sa.func.count())
        .group_by(deliveries.c.target, deliveries.c.status)
    )
    out: dict[str, dict[str, int]] = {}
    for target, status, count in rows:
        out.setdefault(target, {})[status] = count
    return out


def last_delivery(conn: Connection, target: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(deliveries)
        .where(deliveries.c.target == target, deliveries.c.delivered_at.is_not(None))
        .order_by(deliveries.c.delivered_at.desc())
        .limit(1)
    ).first()
    return None if row is None else _as_dict(row)


def oldest_due(conn: Connection, now: datetime) -> datetime | None:
    """When the longest-waiting due work was due: an outbox row not fanned out, or a pending
    delivery past its attempt time (None when nothing is due)."""
    first_change = conn.execute(
        sa.select(sa.func.min(outbox.c.created_at)).where(outbox.c.status == "pending")
    ).scalar()
    first_due = conn.execute(
        sa.select(sa.func.min(deliveries.c.next_attempt_at))
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
    ).scalar()
    found = [t for t in (first_change, first_due) if t is not None]
    return min(found) if found else None


def outbox_depth(conn: Connection) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == "pending")
    ).scalar_one()


# --- LMS users ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedUser:
    user_id: str | None
    method: str
    resolved_at: datetime


def cached_user(conn: Connection, target: str, learner_id: int) -> CachedUser | None:
    row = conn.execute(
        sa.select(lms_users).where(lms_users.c.target == target,
                                   lms_users.c.learner_id == learner_id)
    ).first()
    return None if row is None else CachedUser(row.user_id, row.method, row.resolved_at)


def remember_user(
    conn: Connection, target: str, learner_id: int, user_id: str | None, method: str,
    now: datetime,
) -> None:
    conn.execute(
        lms_users.delete().where(lms_users.c.target == target,
                                 lms_users.c.learner_id == learner_id)
    )
    conn.execute(lms_users.insert().values(target=target, learner_id=learner_id,
                                           user_id=user_id, method=method, resolved_at=now))


def user_owner(conn: Connection, target: str, user_id: str, learner_id: int) -> int | None:
    """Another (unmerged) learner already delivered to this LMS user, if any: two learners
    writing one profile would overwrite each other, so the second waits for a merge."""
    return conn.execute(
        sa.select(lms_users.c.learner_id)
        .join(learners, learners.c.id == lms_users.c.learner_id)
        .where(lms_users.c.target == target, lms_users.c.user_id == user_id,
               lms_users.c.learner_id != learner_id, learners.c.merged_into.is_(None))
        .limit(1)
    ).scalar()


def forget_user(conn: Connection, target: str, learner_id: int) -> None:
    conn.execute(
        lms_users.delete().where(lms_users.c.target == target,
                                 lms_users.c.learner_id == learner_id,
                                 lms_users.c.method != "manual")
    )


def unresolved(conn: Connection, target: str | None = None, limit: int = 200) -> list[dict]:
    """Learners a target could not match to a user, with what they are known by."""
    query = (
        sa.select(deliveries.c.target, deliveries.c.learner_id, learners.c.name,
                  sa.func.count().label("waiting"), sa.func.max(deliveries.c.updated_at))
        .join(learners, learners.c.id == deliveries.c.learner_id)
        .where(deliveries.c.status == "unresolved")
        .group_by(deliveries.c.target, deliveries.c.learner_id, learners.c.name)
        .order_by(deliveries.c.target, deliveries.c.learner_id)
        .limit(limit)
    )
    if target:
        query = query.where(deliveries.c.target == target)
    rows = conn.execute(query).all()
    aliases: dict[int, list[str]] = {}
    ids = list({r.learner_id for r in rows})
    if ids:
        for alias, learner in conn.execute(
            sa.select(learner_aliases.c.alias, learner_aliases.c.learner_id)
            .where(learner_aliases.c.learner_id.in_(ids))
            .order_by(learner_aliases.c.alias)
        ):
            aliases.setdefault(learner, []).append(alias)
    return [
        {"target": r.target, "learner_id": r.learner_id, "name": r.name,
         "waiting": r.waiting, "aliases": aliases.get(r.learner_id, [])}
        for r in rows
    ]


def link_user(conn: Connection, target: str, learner_id: int, user_id: str,
              now: datetime) -> int:
    """An admin says who the learner is at the target; their waiting deliveries go out."""
    remember_user(conn, target, learner_id, user_id, "manual", now)
    result = conn.execute(
        deliveries.update()
        .where(deliveries.c.target == target, deliveries.c.learner_id == learner_id,
               deliveries.c.status == "unresolved")
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None,
                updated_at=now)
    )
    return result.rowcount
