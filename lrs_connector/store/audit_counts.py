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
from sqlalchemy.engine import Connection

from lrs_connector.store import database
from lrs_connector.store.audit_tables import rule_hits, unmapped, unmapped_counts
from lrs_connector.store.mapping_tables import evidence
from lrs_connector.store.tables import statements

_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _false(conn: Connection) -> str:
    return "false" if conn.dialect.name == "postgresql" else "0"


def _fetch(conn: Connection, sql: str, chunk: Sequence[str]) -> list[tuple]:
    """Rows of ``sql`` (its ``IN ({})`` filled for ``chunk``) through a driver cursor: this runs
    on every processing batch, where SQLAlchemy's statement building costs more than the SQL."""
    marks = ", ".join([database.placeholder(conn)] * len(chunk))
    return database.driver_rows(conn, sql.format(marks), chunk)


def _write(conn: Connection, sql: str, rows: list[tuple]) -> None:
    """``sql`` for each of ``rows`` through a driver cursor (placeholders written ``?``)."""
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql.replace("?", database.placeholder(conn)), rows)
    finally:
        cursor.close()


Facts = dict[str, tuple[str, str | None, bool, bool]]  # id: verb, object, countable, member


def _before(conn: Connection, ids: Sequence[str]) -> tuple[set[tuple[int, str, str]], Facts]:
    """One read per chunk, before the change: each statement's evidence in force as (mapping
    version, rule, statement), and its facts: verb, activity, whether it may count as unmapped
    (neither voided nor voiding; the block changes neither) and whether it is counted now."""
    hits: set[tuple[int, str, str]] = set()
    facts: Facts = {}
    for chunk in _chunks(ids):
        for sid, verb, obj, voided, voids, member, version, rule in _fetch(
            conn,
            "SELECT s.id, s.verb_id, s.object_id, s.voided, s.voids, u.statement_id, "
            "e.mapping_version, e.rule_id FROM statements s "
            "LEFT JOIN audit_unmapped u ON u.statement_id = s.id "
            f"LEFT JOIN evidence e ON e.statement_id = s.id AND e.retracted = {_false(conn)} "
            "WHERE s.id IN ({})", chunk):
            facts[sid] = (verb, obj, not voided and voids is None, member is not None)
            if version is not None:
                hits.add((version, rule, sid))
    return hits, facts


def _hits(conn: Connection, ids: Sequence[str]) -> set[tuple[int, str, str]]:
    """(mapping version, rule, statement) of the evidence in force of these statements."""
    found: set[tuple[int, str, str]] = set()
    for chunk in _chunks(ids):
        found.update(_fetch(
            conn,
            "SELECT DISTINCT mapping_version, rule_id, statement_id FROM evidence "
            f"WHERE retracted = {_false(conn)} AND statement_id IN ({{}})", chunk))
    return found


_PENDING = "lrs_connector.audit_counts"  # conn.info key: counts waiting for `flush`


class Tracked:
    """What `tracking` yields: what it read before the block, which the block may use too, and
    ``after``, which a block that reads the statements' evidence after its change anyway sets
    (``store.evidence.in_force`` of those rows) so that none is read again."""

    def __init__(self, before: set[tuple[int, str, str]], facts: Facts) -> None:
        self.before = before
        self.facts = facts
        self.after: set[tuple[int, str, str]] | None = None

    def countable(self, statement_id: str) -> bool:
        """Stored, and neither voided nor voiding, as the block began."""
        found = self.facts.get(statement_id)
        return found is not None and found[2]

    def under_other_versions(self, version: int) -> set[str]:
        """The statements with evidence in force under a mapping version other than this one,
        as the block began."""
        return {statement for other, _, statement in self.before if other != version}


@contextmanager
def tracking(conn: Connection, statement_ids: Sequence[str]) -> Iterator[Tracked]:
    """Count what the block changes in these statements' evidence (see the module's text).

    The shared counter rows are only written by `flush`: every worker's batch updates the same
    rows, so a processing batch writes them last (its final handler), holding their locks for
    the commit alone rather than through readiness and badges."""
    ids = sorted(set(statement_ids))
    before, facts = _before(conn, ids) if ids else (set(), {})
    tracked = Tracked(before, facts)
    yield tracked
    if not ids:
        return
    after = _hits(conn, ids) if tracked.after is None else tracked.after
    _, hits, unmapped_delta = _pending(conn)
    for version, rule, _ in after - before:
        hits[(version, rule)] += 1
    for version, rule, _ in before - after:
        hits[(version, rule)] -= 1
    _follow_unmapped(conn, facts, {statement for _, _, statement in after}, unmapped_delta)


def _pending(conn: Connection) -> tuple:
    """(transaction, rule hit changes, unmapped count changes) gathered in this transaction;
    what a rolled-back one gathered is dropped (`info` outlives transactions)."""
    pending = conn.info.get(_PENDING)
    if pending is None or pending[0] is not conn.get_transaction():
        pending = conn.info[_PENDING] = (conn.get_transaction(), Counter(), Counter())
    return pending


def flush(conn: Connection, entries: Sequence = ()) -> None:
    """Write the counts `tracking` gathered in this transaction (a processing handler: last).
    Driver-level upserts (the same SQL on SQLite and PostgreSQL): SQLAlchemy's statement
    building cost six times the SQL here."""
    pending = conn.info.pop(_PENDING, None)
    if pending is None or pending[0] is not conn.get_transaction():
        return
    hits = sorted((v, r, n) for (v, r), n in pending[1].items() if n)
    if hits:
        _write(conn, "INSERT INTO audit_rule_hits (mapping_version, rule_id, statements) "
               "VALUES (?, ?, ?) ON CONFLICT (mapping_version, rule_id) DO UPDATE SET "
               "statements = audit_rule_hits.statements + excluded.statements", hits)
    counts = sorted(((kind, key, value, n) for (kind, key, value), n in pending[2].items() if n),
                    key=lambda row: row[:2])  # one lock order for every worker
    if counts:
        _write(conn, "INSERT INTO audit_unmapped_counts (kind, key, value, statements) "
               "VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET "
               "statements = audit_unmapped_counts.statements + excluded.statements", counts)


@functools.lru_cache(maxsize=4096)  # verbs and activities repeat from batch to batch
def _key(value: str | None) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()


def _follow_unmapped(conn: Connection, facts: Facts, mapped: set[str], delta: Counter) -> None:
    """Statements of ``facts`` join or leave the unmapped set; ``delta`` gathers the change of
    their counts per (kind, key, value)."""
    joining, leaving = [], []
    for sid, (verb, obj, countable, member) in facts.items():
        now = countable and sid not in mapped
        if now == member:
            continue
        (joining if now else leaving).append((sid, verb, obj))
        sign = 1 if now else -1
        delta[("verb", _key(verb), verb)] += sign
        delta[("activity", _key(obj), obj)] += sign
        delta[("total", _key(""), "")] += sign
    if joining:
        _write(conn, "INSERT INTO audit_unmapped (statement_id, verb_id, object_id) "
               "VALUES (?, ?, ?)", joining)
    if leaving:
        _write(conn, "DELETE FROM audit_unmapped WHERE statement_id = ?",
               [(sid,) for sid, _, _ in leaving])


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
