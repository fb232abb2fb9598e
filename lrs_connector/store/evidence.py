"""Evidence rows in storage: bulk writes in the batch transaction, retraction, replay,
what-if and coverage over stored statements.

Writes go through the driver cursor (like intake's hot path) with one multi-row
``INSERT … ON CONFLICT (statement_id, key)``: a row already there is left alone, except that a row
retracted as *superseded* by another mapping version comes back when its version is replayed
again. Long runs (replay, what-if) stream statements in keyset pages by `seq`, one short
transaction per page, so memory stays flat and intake keeps going meanwhile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector.learners import Identity
from lrs_connector.mapping import Derived, Mapper, derive
from lrs_connector.store import database
from lrs_connector.store import learners as learner_store
from lrs_connector.store.mapping_tables import EVIDENCE_ROW_COLUMNS, evidence
from lrs_connector.store.tables import driver_times, statements

_COLUMNS = (
    "key",
    "statement_id",
    "learner_id",
    "alias",
    "rule_id",
    "mapping_version",
    "target",
    "weight",
    "polarity",
    "kind",
    "confidence",
    "timestamp",
    "valid_until",
    "created_at",
    "retracted",
)
_CHUNK = 500
Progress = Callable[[int], None]


def write(
    conn: Connection, rows: Sequence[Derived], learner_of: dict[str, int], now: datetime
) -> None:
    """Insert evidence rows (idempotent by key)."""
    if not rows:
        return
    mark = database.placeholder(conn)
    db_time = driver_times(conn)
    created = db_time(now)
    values = [
        (
            r.key,
            r.statement_id,
            learner_of[r.alias],
            r.alias,
            r.rule_id,
            r.mapping_version,
            r.target,
            r.weight,
            r.polarity,
            r.kind,
            r.confidence,
            db_time(r.timestamp),
            db_time(r.valid_until),
            created,
            False,
        )
        for r in rows
    ]
    sql = (
        f"INSERT INTO evidence ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_COLUMNS))}) "
        "ON CONFLICT (statement_id, key) DO UPDATE SET retracted = FALSE, retraction = NULL, "
        "retracted_at = NULL WHERE evidence.retraction = 'superseded'"
    )
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, values)
    finally:
        cursor.close()


_HANDED_ON = "lrs_connector.batch_evidence"  # conn.info key: see `hand_on`


def of_statements(conn: Connection, statement_ids: Sequence[str]) -> list[tuple]:
    """Every evidence row of these statements, retracted or not: ``EVIDENCE_ROW_COLUMNS``,
    then ``retracted``. Through the driver cursor, in chunks: a processing batch reads its own."""
    mark = database.placeholder(conn)
    rows: list[tuple] = []
    cursor = conn.connection.cursor()
    try:
        for start in range(0, len(statement_ids), _CHUNK):
            chunk = tuple(statement_ids[start : start + _CHUNK])
            cursor.execute(
                f"SELECT {EVIDENCE_ROW_COLUMNS}, retracted FROM evidence "
                f"WHERE statement_id IN ({', '.join([mark] * len(chunk))})", chunk)
            rows.extend(cursor.fetchall())
    finally:
        cursor.close()
    return rows


def in_force(rows: Sequence[tuple]) -> set[tuple[int, str, str]]:
    """(mapping version, rule, statement) of the rows of `of_statements` not retracted."""
    return {(row[5], row[4], row[2]) for row in rows if not row[13]}


def hand_on(conn: Connection, statement_ids: Sequence[str], rows: list[tuple]) -> None:
    """Keep what `of_statements` just read for the next processing handler of this transaction
    (`handed_on`): the mapping handler reads its batch's rows for the audit counters, and the
    readiness handler, which runs right after it and writes no evidence before, needs the same."""
    conn.info[_HANDED_ON] = (conn.get_transaction(), tuple(statement_ids), rows)


def handed_on(conn: Connection, statement_ids: Sequence[str]) -> list[tuple] | None:
    """The rows `hand_on` kept for exactly these statements in this transaction, once; else
    None (read them)."""
    kept = conn.info.pop(_HANDED_ON, None)
    if kept is None or kept[0] is not conn.get_transaction() or kept[1] != tuple(statement_ids):
        return None
    return kept[2]


def _update_in(conn: Connection, sql: str, head: Sequence[Any], ids: Sequence[str]) -> int:
    """Run `sql … statement_id IN (…)` through the driver in chunks (no SQLAlchemy statement
    built per batch); returns the rows changed."""
    mark = database.placeholder(conn)
    total = 0
    cursor = conn.connection.cursor()
    try:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            cursor.execute(sql.format(marks=", ".join([mark] * len(chunk))), [*head, *chunk])
            total += cursor.rowcount
    finally:
        cursor.close()
    return total


def retract(conn: Connection, statement_ids: Sequence[str], reason: str, now: datetime) -> int:
    """Stop counting the evidence of these statements (kept, marked with why and when)."""
    mark = database.placeholder(conn)
    sql = (
        f"UPDATE evidence SET retracted = TRUE, retraction = {mark}, retracted_at = {mark} "
        "WHERE retracted = FALSE AND statement_id IN ({marks})"
    )
    return _update_in(conn, sql, [reason, driver_times(conn)(now)], statement_ids)


def supersede(conn: Connection, statement_ids: Sequence[str], version: int, now: datetime) -> int:
    """Retract these statements' evidence from other mapping versions (after mapping them
    under `version`, so each statement counts under one version only)."""
    mark = database.placeholder(conn)
    sql = (
        "UPDATE evidence SET retracted = TRUE, retraction = 'superseded', "
        f"retracted_at = {mark} WHERE mapping_version <> {mark} AND retracted = FALSE "
        "AND statement_id IN ({marks})"
    )
    return _update_in(conn, sql, [driver_times(conn)(now), version], statement_ids)


def _name(conn: Connection, named: list[tuple[str, str]]) -> None:
    """Record who each statement names (`statement_aliases`; replays find them there)."""
    if not named:
        return
    mark = database.placeholder(conn)
    cursor = conn.connection.cursor()
    cursor.executemany(
        f"INSERT INTO statement_aliases (statement_id, alias) VALUES ({mark}, {mark}) "
        "ON CONFLICT DO NOTHING", named)
    cursor.close()


def apply(
    conn: Connection,
    documents: Sequence[dict[str, Any]],
    mapper: Mapper,
    version: int,
    now: datetime,
    *,
    derived: dict[str, tuple[list[Identity], list[Derived]]] | None = None,
    superseding: Collection[str] | None = None,
) -> int:
    """Map statements (not voided) under `version` and store the evidence; returns rows made.
    `derived` holds what `derive` gave for some of them under `version` already;
    `superseding`, those of them with evidence in force under another version (None: any may
    have): only theirs is superseded.

    Every actor becomes a learner, whether or not a rule matched (learners are people seen,
    not people with evidence)."""
    people: list[Identity] = []
    rows: list[Derived] = []
    named: list[tuple[str, str]] = []
    ready = derived or {}
    for document in documents:
        found, derived_rows = ready.get(document["id"]) or derive(document, mapper, version)
        people.extend(found)
        rows.extend(derived_rows)
        named.extend((document["id"], person.primary) for person in found)
    learner_of = learner_store.resolve(conn, people, now)
    write(conn, rows, learner_of, now)
    _name(conn, named)
    ids = [d["id"] for d in documents]
    supersede(conn, ids if superseding is None else [i for i in ids if i in superseding],
              version, now)
    return len(rows)


def for_statement(conn: Connection, statement_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(evidence)
        .where(evidence.c.statement_id == statement_id)
        .order_by(evidence.c.mapping_version, evidence.c.rule_id, evidence.c.target)
    )
    return [_row(r) for r in rows]


def for_learner(
    conn: Connection, learner_id: int, *, limit: int = 500, include_retracted: bool = False
) -> list[dict[str, Any]]:
    query = (
        sa.select(evidence)
        .where(evidence.c.learner_id == learner_id)
        .order_by(evidence.c.timestamp.desc(), evidence.c.key)
        .limit(limit)
    )
    if not include_retracted:
        query = query.where(evidence.c.retracted.is_(False))
    return [_row(r) for r in conn.execute(query)]


def _row(r) -> dict[str, Any]:
    out = {str(k): v for k, v in r._mapping.items()}
    for name in ("timestamp", "valid_until", "created_at", "retracted_at"):
        if out.get(name) is not None:
            out[name] = out[name].isoformat()
    out["retracted"] = bool(out["retracted"])
    return out


# --- streaming over stored statements --------------------------------------------------------


def pages(
    engine: Engine, page_size: int, *, write_pages: bool = False
) -> Iterator[tuple[Connection, list[dict[str, Any]], int]]:
    """(connection, statements to map, statements read) per keyset page by `seq`, each in its
    own transaction (a write transaction when the caller stores results). Voided and voiding
    statements are read but not handed out."""
    after = 0
    while True:
        transaction = database.write(engine) if write_pages else database.read(engine)
        with transaction as conn:
            rows = conn.execute(
                sa.select(
                    statements.c.seq, statements.c.body, statements.c.voided, statements.c.voids
                )
                .where(statements.c.seq > after)
                .order_by(statements.c.seq)
                .limit(page_size)
            ).all()
            if not rows:
                return
            after = rows[-1].seq
            documents = [orjson.loads(r.body) for r in rows if not r.voided and r.voids is None]
            yield conn, documents, len(rows)


def replay(
    engine: Engine,
    mapper: Mapper,
    version: int,
    *,
    page_size: int = 2000,
    progress: Progress | None = None,
    rescore: bool = True,
) -> dict[str, int]:
    """Map every stored statement again under `version` (the published one, normally), then
    (with `rescore`) recompute every learner's readiness from the new evidence, streaming, so
    scores, history, badges' levels and the LMS follow the new rules."""
    read = made = 0
    from lrs_connector.store import audit_counts

    for conn, documents, count in pages(engine, page_size, write_pages=True):
        with audit_counts.tracking(conn, [d["id"] for d in documents]):
            made += apply(conn, documents, mapper, version, datetime.now(UTC))
        audit_counts.flush(conn)
        read += count
        if progress:
            progress(count)
    result = {"statements": read, "evidence_rows": made}
    if rescore:
        from lrs_connector.store import readiness

        result["readiness_changes"] = readiness.recompute_all(engine).changes
    return result


# --- what-if ---------------------------------------------------------------------------------


@dataclass
class WhatIf:
    """Evidence a draft would add, remove or change, per learner and target, before
    publishing. Learners not yet known are named by their alias."""

    version: int
    statements: int = 0
    rows_now: int = 0
    rows_draft: int = 0
    rules_now: Counter = field(default_factory=Counter)
    rules_draft: Counter = field(default_factory=Counter)
    cells: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def _cell(self, learner: str, target: str) -> dict[str, float]:
        cell = self.cells.get((learner, target))
        if cell is None:
            cell = {"added": 0, "removed": 0, "changed": 0, "weight_now": 0.0, "weight_draft": 0.0}
            self.cells[(learner, target)] = cell
        return cell

    def as_dict(self, limit: int = 200, offset: int = 0) -> dict[str, Any]:
        """Totals, rows per rule, and the learner/target changes largest first: `limit` of
        them from `offset` (``changes_total`` says how many there are)."""
        changes = [
            {"learner": learner, "target": target, **cell}
            for (learner, target), cell in self.cells.items()
            if cell["added"] or cell["removed"] or cell["changed"]
        ]
        changes.sort(
            key=lambda c: (-abs(c["weight_draft"] - c["weight_now"]), c["learner"], c["target"])
        )
        for change in changes:
            change["weight_now"] = round(change["weight_now"], 6)
            change["weight_draft"] = round(change["weight_draft"], 6)
        rules = sorted(set(self.rules_now) | set(self.rules_draft))
        return {
            "version": self.version,
            "statements": self.statements,
            "evidence_rows": {"now": self.rows_now, "draft": self.rows_draft},
            "added": sum(c["added"] for c in changes),
            "removed": sum(c["removed"] for c in changes),
            "changed": sum(c["changed"] for c in changes),
            "rules": [
                {"rule": r, "rows_now": self.rules_now[r], "rows_draft": self.rules_draft[r]}
                for r in rules
            ],
            "changes": changes[offset : offset + limit],
            "changes_total": len(changes),
            "offset": offset,
        }


def _signed(weight: float, polarity: str) -> float:
    return -weight if polarity == "negative" else weight


def whatif(
    engine: Engine,
    mapper: Mapper,
    version: int,
    *,
    page_size: int = 2000,
    progress: Progress | None = None,
) -> WhatIf:
    """Compare what `mapper` would derive with the evidence in force, statement by statement;
    nothing is written."""
    report = WhatIf(version)
    for conn, documents, count in pages(engine, page_size):
        report.statements += count
        draft: dict[tuple, Derived] = {}
        people: list[Identity] = []
        for document in documents:
            found, rows = derive(document, mapper, version)
            people.extend(found)
            for row in rows:
                draft[row.identity] = row
        known = learner_store.lookup(conn, sorted({k for p in people for k in p.keys}))
        label: dict[str, str] = {}
        for person in people:
            learner = learner_store.owner(known, person)
            label[person.primary] = str(learner) if learner else f"new ({person.primary})"
        now_rows: dict[tuple, Any] = {}
        ids = [d["id"] for d in documents]
        for start in range(0, len(ids), _CHUNK):
            for r in conn.execute(
                sa.select(
                    evidence.c.statement_id,
                    evidence.c.alias,
                    evidence.c.rule_id,
                    evidence.c.target,
                    evidence.c.learner_id,
                    evidence.c.weight,
                    evidence.c.polarity,
                    evidence.c.kind,
                    evidence.c.confidence,
                ).where(
                    evidence.c.statement_id.in_(ids[start : start + _CHUNK]),
                    evidence.c.retracted.is_(False),
                )
            ):
                now_rows[(r.statement_id, r.alias, r.rule_id, r.target)] = r
        for identity, r in now_rows.items():
            report.rows_now += 1
            report.rules_now[r.rule_id] += 1
            cell = report._cell(str(r.learner_id), r.target)
            cell["weight_now"] += _signed(r.weight, r.polarity)
            new = draft.get(identity)
            if new is None:
                cell["removed"] += 1
            elif (new.weight, new.polarity, new.kind, new.confidence) != (
                r.weight,
                r.polarity,
                r.kind,
                r.confidence,
            ):
                cell["changed"] += 1
        for identity, new in draft.items():
            report.rows_draft += 1
            report.rules_draft[new.rule_id] += 1
            current = now_rows.get(identity)
            who = str(current.learner_id) if current is not None else label[new.alias]
            cell = report._cell(who, new.target)
            cell["weight_draft"] += _signed(new.weight, new.polarity)
            if current is None:
                cell["added"] += 1
        if progress:
            progress(count)
    return report


# --- coverage --------------------------------------------------------------------------------


def coverage(
    conn: Connection,
    mapper: Mapper,
    version: int,
    framework_targets: Sequence[str],
    limit: int = 50,
) -> dict[str, Any]:
    """What the mapping misses: processed statements no rule maps (by verb and by activity id),
    hits per rule of `version`, and framework competencies and dimensions no rule feeds. The
    counts are kept as evidence changes (store/audit_counts.py), so this reads a few rows."""
    from lrs_connector.store import audit_counts

    def top(kind: str) -> list[dict[str, Any]]:
        return [{"id": value, "statements": n}
                for value, n in audit_counts.top_unmapped(conn, kind, limit)]

    hits = audit_counts.hits(conn, version)
    fed = mapper.targets()
    return {
        "version": version,
        "unmapped_statements": audit_counts.unmapped_total(conn),
        "unmapped_verbs": top("verb"),
        "unmapped_activities": top("activity"),
        "rules": [{"rule": r.id, "statements": hits.get(r.id, 0)} for r in mapper.rules],
        "targets_without_rules": sorted(t for t in framework_targets if t not in fed),
    }
