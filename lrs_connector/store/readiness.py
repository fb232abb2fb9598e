"""Readiness storage: evidence rows → scoring core → current scores, history and outbox.

* ``readiness_handler(conn, entries)`` runs in the processing batch after the mapping handler:
  it recomputes only the learner x target cells the batch's statements touched (plus cells of
  those learners whose evidence set changed with time: an item lapsed), rolls them up, and
  writes role scores, snapshots and outbox entries when a score (to one decimal) or a level
  changed, all in the batch transaction.
* ``recompute(conn, learner_ids)`` does the same for whole learners (merges, splits, replays).
* ``recompute_all(engine)`` streams every learner in chunks, one transaction per chunk (the
  CLI's full recompute after a framework or model change).
* ``learner_readiness(conn, learner_id)`` scores one learner live from evidence, with
  everything the explanation needs; ``history`` reads the snapshots.

Reads use driver cursors: SQLAlchemy's per-row processing costs more than the SQL on the hot
path (bench/readiness.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector import logs
from lrs_connector.readiness.model import EvidenceItem, ScoringModel
from lrs_connector.readiness.scoring import CellState, Readiness, Scorer, cell_state
from lrs_connector.store import database
from lrs_connector.store.readiness_tables import (
    outbox,
    readiness_snapshots,
)

_CHUNK = 400  # (learner, target) pairs or learners per IN list: well under SQLite's limits
_EVIDENCE_COLUMNS = (
    "learner_id, key, statement_id, target, rule_id, mapping_version, weight, polarity, kind, "
    "confidence, timestamp, valid_until"
)


# --- the scorer in force ---------------------------------------------------------------------


_scorers: dict[str, Scorer] = {}


def _bundled_scorer(model: ScoringModel) -> Scorer:
    from lrs_connector.frameworks.documents import load_bundled

    key = orjson.dumps(model.describe()).decode()
    found = _scorers.get(key)
    if found is None:
        found = _scorers.setdefault(key, Scorer(load_bundled(), model))
    return found


_default_model: ScoringModel | None = None


def configure(model: ScoringModel) -> None:
    """Set the model the handler uses (the app and CLI call this with the settings' model)."""
    global _default_model
    _default_model = model


def scorer(model: ScoringModel | None = None) -> Scorer:
    """The bundled framework (the one in force until frameworks are chosen per installation)
    scored with ``model`` (default: the one given to ``configure``, else the one the
    environment's settings describe)."""
    return _bundled_scorer(model or _default_model or _environment_model())


@functools.cache
def _environment_model() -> ScoringModel:
    from lrs_connector.readiness.model import from_settings
    from lrs_connector.settings import load_settings

    return from_settings(load_settings())


# --- reading evidence ------------------------------------------------------------------------


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _utc(value) -> datetime | None:
    """A timestamp as the driver returns it (text on SQLite, naive UTC on PostgreSQL)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:  # stored naive UTC text: parsing it with the offset is 5x faster than .replace()
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _db_time(conn: Connection, moment: datetime | None):
    if moment is None:
        return None
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    if conn.dialect.name == "sqlite":
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    return naive


def _item(row: tuple) -> EvidenceItem:
    return EvidenceItem(
        key=row[1],
        statement_id=row[2],
        target=row[3],
        rule_id=row[4],
        rule_version=row[5],
        weight=row[6],
        polarity=row[7],
        kind=row[8],
        confidence=row[9],
        timestamp=_utc(row[10]),
        valid_until=_utc(row[11]),
    )


def _fetch(conn: Connection, sql: str, params: Sequence) -> list[tuple]:
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return cursor.fetchall()
    finally:
        cursor.close()


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def evidence_of(conn: Connection, learner_ids: Sequence[int]) -> dict[int, list[EvidenceItem]]:
    """Counted (not retracted) evidence of whole learners."""
    out: dict[int, list[EvidenceItem]] = {}
    mark = _mark(conn)
    for chunk in _chunks(sorted(set(learner_ids))):
        sql = (
            f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE retracted = {_false(conn)} "
            f"AND learner_id IN ({', '.join([mark] * len(chunk))})"
        )
        for row in _fetch(conn, sql, chunk):
            out.setdefault(row[0], []).append(_item(row))
    return out


def _evidence_of_cells(
    conn: Connection, pairs: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], list[EvidenceItem]]:
    """Counted evidence of (learner, target) cells."""
    out: dict[tuple[int, str], list[EvidenceItem]] = {}
    mark = _mark(conn)
    for chunk in _chunks(sorted(set(pairs))):
        rows = ", ".join([f"({mark}, {mark})"] * len(chunk))
        sql = (
            f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE retracted = {_false(conn)} "
            f"AND (learner_id, target) IN (VALUES {rows})"
        )
        for row in _fetch(conn, sql, [v for pair in chunk for v in pair]):
            out.setdefault((row[0], row[3]), []).append(_item(row))
    return out


def _false(conn: Connection) -> str:
    return "false" if database.is_postgresql(conn) else "0"


# --- stored state ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredRole:
    score: float
    level: str


def _stored_cells(conn: Connection, learner_ids: Sequence[int]) -> dict[int, dict[str, CellState]]:
    out: dict[int, dict[str, CellState]] = {}
    mark = _mark(conn)
    for chunk in _chunks(sorted(set(learner_ids))):
        sql = (
            "SELECT learner_id, target, total, scale, counted, next_change FROM readiness_cells "
            f"WHERE learner_id IN ({', '.join([mark] * len(chunk))})"
        )
        for row in _fetch(conn, sql, chunk):
            out.setdefault(row[0], {})[row[1]] = CellState(row[2], row[3], row[4], _utc(row[5]))
    return out


def _stored_roles(conn: Connection, learner_ids: Sequence[int]) -> dict[int, dict[str, StoredRole]]:
    out: dict[int, dict[str, StoredRole]] = {}
    mark = _mark(conn)
    for chunk in _chunks(sorted(set(learner_ids))):
        sql = (
            "SELECT learner_id, role, score, level FROM readiness_roles "
            f"WHERE learner_id IN ({', '.join([mark] * len(chunk))})"
        )
        for row in _fetch(conn, sql, chunk):
            out.setdefault(row[0], {})[row[1]] = StoredRole(row[2], row[3])
    return out


def _execute_many(conn: Connection, sql: str, rows: list[tuple]) -> None:
    if not rows:
        return
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


# --- updating --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an update wrote (for progress lines and tests)."""

    learners: int = 0
    cells: int = 0
    changes: int = 0  # role scores whose rounded score or level changed (snapshots, outbox)


# Namespace of the PostgreSQL advisory locks that serialise readiness writes per learner.
_LEARNER_LOCKS = 7501


def lock_learners(conn: Connection, learner_ids: Sequence[int]) -> None:
    """On PostgreSQL, hold each learner's readiness lock until the transaction ends.

    Workers processing different batches can touch the same learner; without the lock both
    read the learner's cells before either writes (duplicate keys, lost updates). Locks are
    taken in ascending id order, so two workers never wait on each other in a cycle. SQLite
    has one writer at a time and needs nothing.
    """
    if conn.dialect.name != "postgresql":
        return
    cursor = conn.connection.cursor()
    for learner_id in sorted(set(learner_ids)):
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LEARNER_LOCKS, learner_id))
    cursor.close()


def readiness_handler(conn: Connection, entries: Sequence) -> None:
    """Processing handler (after the mapping handler, same transaction): the cells the batch's
    statements touched, their roll-ups, snapshots and outbox entries."""
    ids = sorted({entry.statement_id for entry in entries})
    if not ids:
        return
    touched: dict[int, set[str]] = {}
    mark = _mark(conn)
    for chunk in _chunks(ids):
        sql = (
            "SELECT DISTINCT learner_id, target FROM evidence "
            f"WHERE statement_id IN ({', '.join([mark] * len(chunk))})"
        )
        for learner_id, target in _fetch(conn, sql, chunk):
            touched.setdefault(learner_id, set()).add(target)
    if touched:
        update(conn, touched, datetime.now(UTC))


def recompute(conn: Connection, learner_ids: Sequence[int], now: datetime | None = None) -> Outcome:
    """Recompute whole learners from their evidence (after a merge, split or replay)."""
    now = now or datetime.now(UTC)
    lock_learners(conn, learner_ids)
    found = evidence_of(conn, learner_ids)
    stored = _stored_cells(conn, learner_ids)
    touched = {
        learner: {i.target for i in found.get(learner, ())} | set(stored.get(learner, {}))
        for learner in learner_ids
    }
    return update(conn, touched, now, evidence_by_cell=_by_cell(found), stored_cells=stored)


def _by_cell(found: dict[int, list[EvidenceItem]]) -> dict[tuple[int, str], list[EvidenceItem]]:
    out: dict[tuple[int, str], list[EvidenceItem]] = {}
    for learner, items in found.items():
        for item in items:
            out.setdefault((learner, item.target), []).append(item)
    return out


def update(
    conn: Connection,
    touched: dict[int, set[str]],
    now: datetime,
    *,
    model: ScoringModel | None = None,
    evidence_by_cell: dict[tuple[int, str], list[EvidenceItem]] | None = None,
    stored_cells: dict[int, dict[str, CellState]] | None = None,
) -> Outcome:
    """Recompute the ``touched`` cells of each learner (and cells whose counted evidence
    changed since they were stored), roll up, and write what changed."""
    active = scorer(model)
    learners = sorted(touched)
    lock_learners(conn, learners)
    if stored_cells is None:
        stored_cells = _stored_cells(conn, learners)
    pairs = {(learner, target) for learner, targets in touched.items() for target in targets}
    for learner in learners:
        for target, state in stored_cells.get(learner, {}).items():
            if state.next_change is not None and state.next_change <= now:
                pairs.add((learner, target))
    if evidence_by_cell is None:
        evidence_by_cell = _evidence_of_cells(conn, pairs)
    stored_roles = _stored_roles(conn, learners)

    cell_rows: list[tuple] = []
    gone: list[tuple] = []
    role_rows: list[tuple] = []
    snapshots: list[tuple] = []
    messages: list[tuple] = []
    when = _db_time(conn, now)
    outcome = Outcome(learners=len(learners))
    by_learner: dict[int, list[str]] = {}
    for learner, target in pairs:
        by_learner.setdefault(learner, []).append(target)
    for learner in learners:
        states = dict(stored_cells.get(learner, {}))
        for target in sorted(by_learner.get(learner, ())):
            state = cell_state(evidence_by_cell.get((learner, target), ()), now, active.model)
            if state.counted == 0 and state.next_change is None:
                states.pop(target, None)
                gone.append((learner, target))
                continue
            states[target] = state
            value = active.proficiency_at(state, now)
            cell_rows.append(
                (learner, target, state.total, state.scale, state.counted,
                 _db_time(conn, state.next_change), value, when)
            )
        own = {target: active.proficiency_at(state, now) for target, state in states.items()}
        scored = active.role_scores(own)
        before = stored_roles.get(learner, {})
        for role_iri, (score, level, code) in scored.items():
            previous = before.get(role_iri)
            if previous is not None and (
                round(previous.score, 1) == round(score, 1) and previous.level == level
            ):
                continue
            role_rows.append((learner, role_iri, score, level, when))
            snapshots.append((learner, role_iri, score, level, when))
            if previous is None and round(score, 1) == 0.0:
                continue  # the first score of a learner with nothing for this role: no news
            payload = {
                "learner_id": learner,
                "role": role_iri,
                "role_code": code,
                "score": round(score, 1),
                "level": level,
                "previous_score": None if previous is None else round(previous.score, 1),
                "previous_level": None if previous is None else previous.level,
                "computed_at": now.isoformat(),
            }
            carried = logs.carried().ids  # the requests behind this batch, for delivery logs
            if carried:
                payload["request_ids"] = list(carried)
            messages.append(
                (learner, role_iri, "role", orjson.dumps(payload).decode(), when, "pending")
            )
    outcome.cells = len(cell_rows) + len(gone)
    outcome.changes = len(role_rows)
    _write(conn, cell_rows, gone, role_rows, snapshots, messages)
    return outcome


def _write(conn, cell_rows, gone, role_rows, snapshots, messages) -> None:
    mark = _mark(conn)
    marks = lambda n: ", ".join([mark] * n)  # noqa: E731
    cleared = [(learner, target) for learner, target, *_ in cell_rows] + gone
    _execute_many(
        conn, f"DELETE FROM readiness_cells WHERE learner_id = {mark} AND target = {mark}", cleared
    )
    _execute_many(
        conn,
        "INSERT INTO readiness_cells (learner_id, target, total, scale, counted, next_change, "
        f"proficiency, computed_at) VALUES ({marks(8)})",
        cell_rows,
    )
    _execute_many(
        conn,
        f"DELETE FROM readiness_roles WHERE learner_id = {mark} AND role = {mark}",
        [row[:2] for row in role_rows],
    )
    _execute_many(
        conn,
        f"INSERT INTO readiness_roles (learner_id, role, score, level, computed_at) "
        f"VALUES ({marks(5)})",
        role_rows,
    )
    _execute_many(
        conn,
        "INSERT INTO readiness_snapshots (learner_id, role, score, level, computed_at) "
        f"VALUES ({marks(5)})",
        snapshots,
    )
    _execute_many(
        conn,
        "INSERT INTO outbox (learner_id, role, target_kind, payload, created_at, status) "
        f"VALUES ({marks(6)})",
        messages,
    )


# --- full recompute --------------------------------------------------------------------------


def recompute_all(
    engine: Engine,
    *,
    chunk_size: int = 2_000,
    now: datetime | None = None,
    model: ScoringModel | None = None,
    progress: Callable[[Outcome, int], None] | None = None,
) -> Outcome:
    """Every learner with evidence or stored scores, ``chunk_size`` learners per transaction,
    in learner id order (memory stays bounded; an interrupted run can simply be started again).
    ``progress(outcome so far, last learner id)`` is called after each chunk."""
    now = now or datetime.now(UTC)
    total = Outcome()
    after = -1
    while True:
        with database.write(engine) as conn:
            ids = _next_learners(conn, after, chunk_size)
            if not ids:
                break
            found = _evidence_between(conn, ids[0], ids[-1])
            stored = _stored_cells_between(conn, ids[0], ids[-1])
            touched = {
                learner: {i.target for i in found.get(learner, ())} | set(stored.get(learner, {}))
                for learner in ids
            }
            done = update(
                conn, touched, now, model=model, evidence_by_cell=_by_cell(found),
                stored_cells=stored,
            )
        after = ids[-1]
        total.learners += done.learners
        total.cells += done.cells
        total.changes += done.changes
        if progress:
            progress(total, after)
    return total


def _next_learners(conn: Connection, after: int, limit: int) -> list[int]:
    mark = _mark(conn)
    sql = (
        "SELECT learner_id FROM ("
        f"SELECT DISTINCT learner_id FROM evidence WHERE learner_id > {mark} UNION "
        f"SELECT DISTINCT learner_id FROM readiness_roles WHERE learner_id > {mark}) AS found "
        f"ORDER BY learner_id LIMIT {int(limit)}"
    )
    return [row[0] for row in _fetch(conn, sql, (after, after))]


def _evidence_between(conn: Connection, first: int, last: int) -> dict[int, list[EvidenceItem]]:
    mark = _mark(conn)
    sql = (
        f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE retracted = {_false(conn)} "
        f"AND learner_id BETWEEN {mark} AND {mark}"
    )
    out: dict[int, list[EvidenceItem]] = {}
    for row in _fetch(conn, sql, (first, last)):
        out.setdefault(row[0], []).append(_item(row))
    return out


def _stored_cells_between(
    conn: Connection, first: int, last: int
) -> dict[int, dict[str, CellState]]:
    mark = _mark(conn)
    sql = (
        "SELECT learner_id, target, total, scale, counted, next_change FROM readiness_cells "
        f"WHERE learner_id BETWEEN {mark} AND {mark}"
    )
    out: dict[int, dict[str, CellState]] = {}
    for row in _fetch(conn, sql, (first, last)):
        out.setdefault(row[0], {})[row[1]] = CellState(row[2], row[3], row[4], _utc(row[5]))
    return out


# --- reading results -------------------------------------------------------------------------


def learner_readiness(
    conn: Connection, learner_id: int, at: datetime | None = None, model: ScoringModel | None = None
) -> Readiness:
    """One learner scored live from evidence at ``at`` (default now), cells with their items."""
    items = evidence_of(conn, [learner_id]).get(learner_id, [])
    return scorer(model).readiness(items, at or datetime.now(UTC))


def history(
    conn: Connection, learner_id: int, role: str | None = None, limit: int = 200
) -> list[dict]:
    """The latest ``limit`` snapshots (per role when ``role`` is given), oldest first."""
    query = (
        sa.select(
            readiness_snapshots.c.role,
            readiness_snapshots.c.score,
            readiness_snapshots.c.level,
            readiness_snapshots.c.computed_at,
        )
        .where(readiness_snapshots.c.learner_id == learner_id)
        .order_by(readiness_snapshots.c.id.desc())
        .limit(limit)
    )
    if role is not None:
        query = query.where(readiness_snapshots.c.role == role)
    rows = list(conn.execute(query))
    rows.reverse()
    return [
        {"role": r.role, "score": round(r.score, 1), "level": r.level,
         "at": r.computed_at.isoformat()}
        for r in rows
    ]


def current_roles(conn: Connection, learner_id: int) -> dict[str, StoredRole]:
    return _stored_roles(conn, [learner_id]).get(learner_id, {})


def pending_outbox(conn: Connection, limit: int = 100) -> list[dict]:
    rows = conn.execute(
        sa.select(outbox).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit)
    )
    return [dict(r._mapping, payload=orjson.loads(r.payload)) for r in rows]


def learner_exists(conn: Connection, learner_id: int) -> bool:
    from lrs_connector.store.learner_tables import learners

    return (
        conn.execute(sa.select(learners.c.id).where(learners.c.id == learner_id)).first()
        is not None
    )


def activities(conn: Connection) -> dict:
    """``{target: [Activity]}`` from the published mapping rules (the bundled rules when no
    version is published yet)."""
    from lrs_connector.readiness.scoring import activities_from_rules
    from lrs_connector.store import mapping

    version = mapping.published_version(conn)
    rules = mapping.mapper(conn, version).rules if version is not None else _bundled_rules()
    return activities_from_rules(rules)


@functools.cache
def _bundled_rules() -> tuple:
    from lrs_connector.mapping import bundled
    from lrs_connector.store.mapping import compile_version_text

    return compile_version_text(bundled.bundled_text(), bundled.BUNDLED_SOURCE).rules


