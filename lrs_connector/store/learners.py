"""Learners in storage: resolve actors to learners inside the batch transaction, merge, split.

Resolution is set-based (one SELECT of every alias key in the batch, inserts only for what is
new), and safe with several PostgreSQL workers: aliases are inserted with ON CONFLICT DO
NOTHING and read back, so two workers meeting a new person at once agree on one learner (the
loser's empty learner row is removed in the same transaction).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.learners import Identity, alias_kind, companions
from lrs_connector.store import badges, database, readiness
from lrs_connector.store.learner_tables import learner_aliases, learners
from lrs_connector.store.mapping_tables import evidence

_CHUNK = 500


class LearnerError(ValueError):
    """A merge or split that cannot be done (unknown learner, alias of someone else…)."""


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def lookup(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """alias key → learner id, for the keys that are known (through the driver: this runs
    once per processing batch with hundreds of keys)."""
    found: dict[str, int] = {}
    keys = list(keys)
    if not keys:
        return found
    mark = database.placeholder(conn)
    cursor = conn.connection.cursor()
    try:
        for chunk in _chunks(keys):
            cursor.execute(
                "SELECT alias, learner_id FROM learner_aliases "
                f"WHERE alias IN ({', '.join([mark] * len(chunk))})",
                list(chunk),
            )
            found.update(cursor.fetchall())
    finally:
        cursor.close()
    return found


def owner(known: dict[str, int], person: Identity) -> int | None:
    """The learner of an identity: the one its most specific known alias belongs to."""
    for key in person.keys:
        learner = known.get(key)
        if learner is not None:
            return learner
    return None


def resolve(conn: Connection, people: Sequence[Identity], now: datetime) -> dict[str, int]:
    """Primary alias → learner id for every identity, creating learners and aliases as needed."""
    distinct: dict[str, Identity] = {}
    for person in people:
        distinct.setdefault(person.primary, person)
    if not distinct:
        return {}
    all_keys = {k for p in distinct.values() for k in p.keys}
    known = lookup(conn, sorted(all_keys))
    out: dict[str, int] = {}
    new: list[Identity] = []
    for person in distinct.values():
        learner = owner(known, person)
        if learner is None:
            new.append(person)
        else:
            out[person.primary] = learner
    created: list[int] = []
    if new:
        # One learner per new person; a later identity sharing a key with an earlier one in
        # the same batch (mbox and its sha1) joins it.
        pending: dict[str, Identity] = {}
        for person in new:
            if not any(k in pending for k in person.keys):
                for k in person.keys:
                    pending[k] = person
        heads = list({id(p): p for p in pending.values()}.values())
        ids = _insert_learners(conn, [{"name": p.name, "created_at": now} for p in heads])
        created = ids
        by_head = {p.primary: learner for p, learner in zip(heads, ids, strict=True)}
        for person in new:
            head = next(pending[k] for k in person.keys if k in pending)
            out[person.primary] = by_head[head.primary]
    missing = [
        {"alias": k, "learner_id": out[p.primary], "kind": alias_kind(k), "created_at": now}
        for p in distinct.values()
        for k in p.keys
        if k not in known
    ]
    seen: set[str] = set()
    missing = [m for m in missing if not (m["alias"] in seen or seen.add(m["alias"]))]
    if missing:
        # In alias order: on PostgreSQL a worker inserting an alias another worker has just
        # inserted waits for it, and two workers taking overlapping aliases in different
        # orders would wait for each other (a deadlock; tested).
        _insert_ignore(conn, sorted(missing, key=lambda m: m["alias"]))
    if created:
        # Another worker may have created the same person meanwhile: whoever owns the alias
        # now is the learner; learners of ours that own no alias are removed.
        known = lookup(conn, sorted(all_keys))
        for person in distinct.values():
            learner = owner(known, person)
            if learner is not None:
                out[person.primary] = learner
        used = set(out.values())
        orphans = [c for c in created if c not in used]
        if orphans:
            conn.execute(learners.delete().where(learners.c.id.in_(orphans)))
    return out


def _insert_learners(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert learners, returning their ids in the order given.

    On SQLite the batch holds the database's only write lock, so the ids can be chosen up
    front and the rows inserted in one executemany; RETURNING with a guaranteed order would
    cost one statement per row there. PostgreSQL returns ordered ids from one statement.
    """
    if conn.dialect.name == "sqlite":
        first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(learners.c.id), 0))).scalar()
        ids = list(range(first + 1, first + 1 + len(rows)))
        conn.execute(learners.insert(), [{**row, "id": i} for row, i in zip(rows, ids,
                                                                           strict=True)])
        return ids
    result = conn.execute(
        learners.insert().returning(learners.c.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result]


def _insert_ignore(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(learner_aliases).on_conflict_do_nothing(), rows)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnerInfo:
    id: int
    name: str | None
    created_at: datetime
    merged_into: int | None
    aliases: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "merged_into": self.merged_into,
            "aliases": self.aliases,
        }


def get(conn: Connection, learner_id: int) -> LearnerInfo | None:
    row = conn.execute(sa.select(learners).where(learners.c.id == learner_id)).first()
    if row is None:
        return None
    aliases = conn.execute(
        sa.select(learner_aliases.c.alias)
        .where(learner_aliases.c.learner_id == learner_id)
        .order_by(learner_aliases.c.alias)
    ).scalars()
    return LearnerInfo(row.id, row.name, row.created_at, row.merged_into, list(aliases))


def by_alias(conn: Connection, alias: str) -> int | None:
    return conn.execute(
        sa.select(learner_aliases.c.learner_id).where(learner_aliases.c.alias == alias)
    ).scalar()


def listing(
    conn: Connection, *, after: int = 0, limit: int = 100, include_merged: bool = False
) -> list[dict[str, Any]]:
    """Learners by id (keyset paging with ``after``), with alias and active evidence counts."""
    aliases = (
        sa.select(sa.func.count())
        .where(learner_aliases.c.learner_id == learners.c.id)
        .scalar_subquery()
    )
    active = (
        sa.select(sa.func.count())
        .where(evidence.c.learner_id == learners.c.id, evidence.c.retracted.is_(False))
        .scalar_subquery()
    )
    query = (
        sa.select(learners, aliases.label("aliases"), active.label("evidence"))
        .where(learners.c.id > after)
        .order_by(learners.c.id)
        .limit(limit)
    )
    if not include_merged:
        query = query.where(learners.c.merged_into.is_(None))
    return [
        {
            "id": r.id,
            "name": r.name,
            "aliases": r.aliases,
            "evidence": r.evidence,
            "merged_into": r.merged_into,
        }
        for r in conn.execute(query)
    ]


def evidence_summary(conn: Connection, learner_id: int) -> list[dict[str, Any]]:
    """Active evidence per target: rows, positive and negative weight, latest statement time."""
    signed = sa.case(
        (evidence.c.polarity == "negative", -evidence.c.weight), else_=evidence.c.weight
    )
    rows = conn.execute(
        sa.select(
            evidence.c.target,
            sa.func.count().label("rows"),
            sa.func.sum(signed).label("net_weight"),
            sa.func.max(evidence.c.timestamp).label("latest"),
        )
        .where(evidence.c.learner_id == learner_id, evidence.c.retracted.is_(False))
        .group_by(evidence.c.target)
        .order_by(evidence.c.target)
    )
    return [
        {
            "target": r.target,
            "rows": r.rows,
            "net_weight": round(float(r.net_weight or 0), 6),
            "latest": r.latest.isoformat() if hasattr(r.latest, "isoformat") else r.latest,
        }
        for r in rows
    ]


# --- merge and split -------------------------------------------------------------------------


def _active(conn: Connection, learner_id: int) -> None:
    row = conn.execute(sa.select(learners.c.merged_into).where(learners.c.id == learner_id)).first()
    if row is None:
        raise LearnerError(f"no learner {learner_id}")
    if row.merged_into is not None:
        raise LearnerError(f"learner {learner_id} was merged into learner {row.merged_into}")


def merge(conn: Connection, keep: int, away: int, now: datetime) -> dict[str, int]:
    """Move `away`'s aliases and evidence to `keep`; `away` remains, pointing at `keep`."""
    if keep == away:
        raise LearnerError("a learner cannot be merged into itself")
    _active(conn, keep)
    _active(conn, away)
    moved_aliases = conn.execute(
        learner_aliases.update().where(learner_aliases.c.learner_id == away).values(learner_id=keep)
    ).rowcount
    moved_evidence = conn.execute(
        evidence.update().where(evidence.c.learner_id == away).values(learner_id=keep)
    ).rowcount
    conn.execute(learners.update().where(learners.c.merged_into == away).values(merged_into=keep))
    conn.execute(
        learners.update().where(learners.c.id == away).values(merged_into=keep, merged_at=now)
    )
    readiness.recompute(conn, [keep, away], now)
    badges.sync(conn, [keep, away], now)
    return {"aliases": moved_aliases, "evidence": moved_evidence}


def split(
    conn: Connection, learner_id: int, aliases: Sequence[str], now: datetime, name: str | None
) -> tuple[int, dict[str, int]]:
    """Move the named aliases (an mbox takes its sha1 along) and the evidence that came
    through them to a new learner; returns the new learner's id and what moved."""
    _active(conn, learner_id)
    wanted = sorted({k for a in aliases for k in companions(a)})
    owners = lookup(conn, wanted)
    # A companion key (the sha1 of an mbox) that nobody holds is fine; a named one is not.
    for alias in aliases:
        if owners.get(alias) != learner_id:
            raise LearnerError(f"alias {alias} does not belong to learner {learner_id}")
    moving = [k for k in wanted if owners.get(k) == learner_id]
    remaining = conn.execute(
        sa.select(sa.func.count()).where(
            learner_aliases.c.learner_id == learner_id, learner_aliases.c.alias.notin_(moving)
        )
    ).scalar_one()
    if remaining == 0:
        raise LearnerError("a split must leave the learner at least one alias")
    new_id = conn.execute(
        learners.insert().values(name=name, created_at=now).returning(learners.c.id)
    ).scalar_one()
    conn.execute(
        learner_aliases.update()
        .where(learner_aliases.c.alias.in_(moving))
        .values(learner_id=new_id)
    )
    moved = conn.execute(
        evidence.update()
        .where(evidence.c.learner_id == learner_id, evidence.c.alias.in_(moving))
        .values(learner_id=new_id)
    ).rowcount
    readiness.recompute(conn, [learner_id, new_id], now)
    badges.sync(conn, [learner_id, new_id], now)
    return new_id, {"aliases": len(moving), "evidence": moved}
