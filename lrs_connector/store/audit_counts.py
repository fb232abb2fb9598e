"""Counters behind the audit console's Rules and Coverage pages: statements each rule gave
evidence in force for (per mapping version), and statements no rule maps, per verb and per
activity id.

Counting these over a million statements takes seconds, so whatever changes evidence counts the
difference it made instead: `tracking(conn, statement_ids)` reads the statements' rule hits
before the change and after it, in the same transaction, and adds the difference. Processing
(new evidence, voiding, reinstated rows) and mapping replays (a new version's evidence, the old
one's superseded) both run inside it, so the counters stay exact whatever the order of events.
"Unmapped" statements are those processed with no evidence in force that are neither voided nor
voiding; `audit_unmapped` holds them, so a statement voided later leaves its counts.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from lrs_connector.store.audit_tables import rule_hits, unmapped, unmapped_counts
from lrs_connector.store.mapping_tables import evidence
from lrs_connector.store.tables import statements

_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _fetch(conn: Connection, sql: str, chunk: Sequence[str]) -> list[tuple]:
    """Rows of ``sql`` (its ``IN ({})`` filled for ``chunk``) through a driver cursor: this runs
    twice per processing batch, where SQLAlchemy's statement building costs more than the SQL."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql.format(", ".join([mark] * len(chunk))), tuple(chunk))
        return cursor.fetchall()
    finally:
        cursor.close()


def _hits(conn: Connection, ids: Sequence[str]) -> set[tuple[int, str, str]]:
    """(mapping version, rule, statement) of the evidence in force of these statements."""
    false = "false" if conn.dialect.name == "postgresql" else "0"
    found: set[tuple[int, str, str]] = set()
    for chunk in _chunks(ids):
        found.update(_fetch(
            conn,
            "SELECT DISTINCT mapping_version, rule_id, statement_id FROM evidence "
            f"WHERE retracted = {false} AND statement_id IN ({{}})", chunk))
    return found


_PENDING = "lrs_connector.audit_counts"  # conn.info key: counts waiting for `flush`


@contextmanager
def tracking(conn: Connection, statement_ids: Sequence[str]) -> Iterator[None]:
    """Count what the block changes in these statements' evidence (see the module's text).

    The shared counter rows are only written by `flush`: every worker's batch updates the same
    rows, so a processing batch writes them last (its final handler), holding their locks for
    the commit alone rather than through readiness and badges."""
    ids = sorted(set(statement_ids))
    before = _hits(conn, ids) if ids else set()
    yield
    if not ids:
        return
    after = _hits(conn, ids)
    _, hits, unmapped_delta = _pending(conn)
    for version, rule, _ in after - before:
        hits[(version, rule)] += 1
    for version, rule, _ in before - after:
        hits[(version, rule)] -= 1
    _follow_unmapped(conn, ids, {statement for _, _, statement in after}, unmapped_delta)


def _pending(conn: Connection) -> tuple:
    """(transaction, rule hit changes, unmapped count changes) gathered in this transaction;
    what a rolled-back one gathered is dropped (`info` outlives transactions)."""
    pending = conn.info.get(_PENDING)
    if pending is None or pending[0] is not conn.get_transaction():
        pending = conn.info[_PENDING] = (conn.get_transaction(), Counter(), Counter())
    return pending


def flush(conn: Connection, entries: Sequence = ()) -> None:
    """Write the counts `tracking` gathered in this transaction (a processing handler: last)."""
    pending = conn.info.pop(_PENDING, None)
    if pending is not None and pending[0] is conn.get_transaction():
        _add_hits(conn, pending[1])
        _add_unmapped(conn, pending[2])


def _insert(conn: Connection, table: sa.Table):
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _add_hits(conn: Connection, delta: Counter) -> None:
    rows = [{"mapping_version": v, "rule_id": r, "statements": n}
            for (v, r), n in sorted(delta.items()) if n]
    if not rows:
        return
    statement = _insert(conn, rule_hits)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[rule_hits.c.mapping_version, rule_hits.c.rule_id],
        set_={"statements": rule_hits.c.statements + statement.excluded.statements}), rows)


@functools.lru_cache(maxsize=4096)  # verbs and activities repeat from batch to batch
def _key(value: str | None) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()


def _follow_unmapped(
    conn: Connection, ids: Sequence[str], mapped: set[str], delta: Counter
) -> None:
    """Statements among ``ids`` join or leave the unmapped set; ``delta`` gathers the change of
    their counts per (kind, key, value)."""
    facts: dict[str, tuple[str, str | None, bool]] = {}
    members: set[str] = set()
    for chunk in _chunks(ids):
        for sid, verb, obj, voided, voids, member in _fetch(
            conn,
            "SELECT s.id, s.verb_id, s.object_id, s.voided, s.voids, u.statement_id "
            "FROM statements s LEFT JOIN audit_unmapped u ON u.statement_id = s.id "
            "WHERE s.id IN ({})", chunk):
            facts[sid] = (verb, obj, not voided and voids is None and sid not in mapped)
            if member is not None:
                members.add(sid)
    joining = [sid for sid, (_, _, now) in facts.items() if now and sid not in members]
    leaving = [sid for sid in members if sid in facts and not facts[sid][2]]
    if not joining and not leaving:
        return
    for sid, sign in [*((s, 1) for s in joining), *((s, -1) for s in leaving)]:
        verb, obj, _ = facts[sid]
        for kind, value in (("verb", verb), ("activity", obj), ("total", "")):
            delta[(kind, _key(value), value)] += sign
    if joining:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cursor = conn.connection.cursor()
        cursor.executemany(
            f"INSERT INTO audit_unmapped (statement_id, verb_id, object_id) "
            f"VALUES ({mark}, {mark}, {mark})",
            [(sid, facts[sid][0], facts[sid][1]) for sid in joining])
        cursor.close()
    if leaving:
        conn.execute(sa.delete(unmapped).where(unmapped.c.statement_id.in_(leaving)))


def _add_unmapped(conn: Connection, delta: Counter) -> None:
    rows = [{"kind": kind, "key": key, "value": value, "statements": n}
            for (kind, key, value), n in sorted(delta.items(), key=lambda e: e[0][:2]) if n]
    if rows:
        statement = _insert(conn, unmapped_counts)
        conn.execute(statement.on_conflict_do_update(
            index_elements=[unmapped_counts.c.kind, unmapped_counts.c.key],
            set_={"statements": unmapped_counts.c.statements + statement.excluded.statements}),
            rows)


# --- reading ---------------------------------------------------------------------------------


def hits(conn: Connection, version: int) -> dict[str, int]:
    """Statements each rule of ``version`` gave evidence in force for."""
    return {rule: n for rule, n in conn.execute(
        sa.select(rule_hits.c.rule_id, rule_hits.c.statements)
        .where(rule_hits.c.mapping_version == version)) if n}


def top_unmapped(conn: Connection, kind: str, limit: int | None = 50) -> list[tuple[str, int]]:
    """(verb or activity id, statements) no rule maps, most frequent first."""
    query = (
        sa.select(unmapped_counts.c.value, unmapped_counts.c.statements)
        .where(unmapped_counts.c.kind == kind, unmapped_counts.c.statements > 0)
        .order_by(unmapped_counts.c.statements.desc(), unmapped_counts.c.value)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(value or "", n) for value, n in conn.execute(query)]


def unmapped_total(conn: Connection) -> int:
    return conn.execute(sa.select(unmapped_counts.c.statements).where(
        unmapped_counts.c.kind == "total")).scalar() or 0


def rebuild(conn: Connection) -> None:
    """Count everything again from the stored evidence and statements (what migration 0016
    does for a database that had data before the counters): for data written around the
    connector (a restore, a bulk load), never needed in normal running."""
    for table in (rule_hits, unmapped, unmapped_counts):
        conn.execute(sa.delete(table))
    in_force = evidence.c.retracted.is_(False)
    conn.execute(sa.insert(rule_hits).from_select(
        ["mapping_version", "rule_id", "statements"],
        sa.select(evidence.c.mapping_version, evidence.c.rule_id,
                  sa.func.count(sa.distinct(evidence.c.statement_id)))
        .where(in_force).group_by(evidence.c.mapping_version, evidence.c.rule_id)))
    from lrs_connector.store.tables import processing_queue

    conn.execute(sa.insert(unmapped).from_select(
        ["statement_id", "verb_id", "object_id"],
        sa.select(statements.c.id, statements.c.verb_id, statements.c.object_id).where(
            statements.c.voided.is_(False), statements.c.voids.is_(None),
            ~sa.exists().where(evidence.c.statement_id == statements.c.id, in_force),
            ~sa.exists().where(processing_queue.c.statement_id == statements.c.id))))
    rows = []
    for kind, column in (("verb", unmapped.c.verb_id), ("activity", unmapped.c.object_id)):
        for value, n in conn.execute(sa.select(column, sa.func.count()).group_by(column)):
            rows.append({"kind": kind, "key": _key(value), "value": value, "statements": n})
    total = conn.execute(sa.select(sa.func.count()).select_from(unmapped)).scalar_one()
    if total:
        rows.append({"kind": "total", "key": _key(""), "value": "", "statements": total})
    if rows:
        conn.execute(sa.insert(unmapped_counts), rows)
