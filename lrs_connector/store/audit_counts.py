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


@contextmanager
def tracking(conn: Connection, statement_ids: Sequence[str]) -> Iterator[None]:
    """Count what the block changes in these statements' evidence (see the module's text)."""
    ids = sorted(set(statement_ids))
    before = _hits(conn, ids) if ids else set()
    yield
    if not ids:
        return
    after = _hits(conn, ids)
    delta: Counter = Counter()
    for version, rule, _ in after - before:
        delta[(version, rule)] += 1
    for version, rule, _ in before - after:
        delta[(version, rule)] -= 1
    _add_hits(conn, delta)
    _follow_unmapped(conn, ids, {statement for _, _, statement in after})


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


def _follow_unmapped(conn: Connection, ids: Sequence[str], mapped: set[str]) -> None:
    """Statements among ``ids`` join or leave the unmapped set; their counts follow."""
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
    delta: Counter = Counter()
    values: dict[tuple[str, str], str | None] = {}
    for sid, sign in [*((s, 1) for s in joining), *((s, -1) for s in leaving)]:
        verb, obj, _ = facts[sid]
        for kind, value in (("verb", verb), ("activity", obj), ("total", "")):
            delta[(kind, _key(value))] += sign
            values[(kind, _key(value))] = value
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
    rows = [{"kind": kind, "key": key, "value": values[(kind, key)], "statements": n}
            for (kind, key), n in sorted(delta.items()) if n]
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
