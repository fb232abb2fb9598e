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

import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector import counts, logs
from lrs_connector.frameworks.model import Framework
from lrs_connector.readiness.model import EvidenceItem, ScoringModel, evidence_item
from lrs_connector.readiness.scoring import (
    MIN_STRENGTH,
    CellState,
    Readiness,
    Scorer,
    add_to_state,
    cell_state,
    explain_state,
    state_key,
)
from lrs_connector.store import database
from lrs_connector.store.mapping_tables import EVIDENCE_ROW_COLUMNS as _EVIDENCE_COLUMNS
from lrs_connector.store.readiness_tables import (
    outbox,
    readiness_roles,
    readiness_snapshots,
)
from lrs_connector.store.tables import driver_time, driver_times

log = logging.getLogger(__name__)
_LN2 = math.log(2.0)
_CHUNK = 400  # (learner, target) pairs or learners per IN list: well under SQLite's limits


# --- the scorer in force ---------------------------------------------------------------------


_scorers: dict[str, Scorer] = {}


def _scorer_for(framework: Framework, model: ScoringModel) -> Scorer:
    """One Scorer per model, rebuilt when the framework in force changes."""
    key = orjson.dumps(model.describe()).decode()
    found = _scorers.get(key)
    if found is None or found.framework is not framework:
        found = _scorers[key] = Scorer(framework, model)
    return found


_default_model: ScoringModel | None = None


def configure(model: ScoringModel) -> None:
    """Set the model the handler uses (the app and CLI call this with the settings' model)."""
    global _default_model
    _default_model = model


def scorer(conn: Connection, model: ScoringModel | None = None) -> Scorer:
    """The framework in force (store/frameworks.py) scored with ``model`` (default: the one
    given to ``configure``, else the one the environment's settings describe)."""
    from lrs_connector.store import frameworks

    return _scorer_for(frameworks.in_force(conn), model or configured_model())


def configured_model() -> ScoringModel:
    """The model given to ``configure``, else the one the environment's settings describe."""
    return _default_model or _environment_model()


@functools.cache
def _environment_model() -> ScoringModel:
    from lrs_connector.readiness.model import from_settings
    from lrs_connector.settings import load_settings

    return from_settings(load_settings())


# --- reading evidence ------------------------------------------------------------------------


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


def _item(row: tuple) -> EvidenceItem:
    return evidence_item(row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
                         _utc(row[10]), _utc(row[11]))


_fetch = database.driver_rows


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def evidence_of(conn: Connection, learner_ids: Sequence[int]) -> dict[int, list[EvidenceItem]]:
    """Counted (not retracted) evidence of whole learners."""
    out: dict[int, list[EvidenceItem]] = {}
    mark = database.placeholder(conn)
    for chunk in _chunks(sorted(set(learner_ids))):
        sql = (
            f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE retracted = {_false(conn)} "
            f"AND learner_id IN ({', '.join([mark] * len(chunk))})"
        )
        for row in _fetch(conn, sql, chunk):
            out.setdefault(row[0], []).append(_item(row))
    return out


@dataclass(slots=True)
class CellRows:
    """A cell's counted evidence as read, and the highest evidence id among it."""

    items: list[EvidenceItem]
    upto: int = 0


def _collect(rows: Iterable[tuple], out: dict[tuple[int, str], CellRows] | None = None
             ) -> dict[tuple[int, str], CellRows]:
    out = {} if out is None else out
    for row in rows:
        found = out.get((row[0], row[3]))
        if found is None:
            found = out[(row[0], row[3])] = CellRows([])
        found.items.append(_item(row))
        if row[12] > found.upto:
            found.upto = row[12]
    return out


def _evidence_of_cells(
    conn: Connection, pairs: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], CellRows]:
    """Counted evidence of (learner, target) cells."""
    return _evidence_after(conn, dict.fromkeys(pairs, 0))


def _evidence_after(
    conn: Connection, cells: dict[tuple[int, str], int]
) -> dict[tuple[int, str], CellRows]:
    """Counted evidence of each (learner, target) cell with an id above the given one: what a
    stored cell does not count yet (ids start at 1). A join with the cells as a CTE, because
    SQLite scans the whole table for a row-value ``IN (VALUES …)``."""
    out: dict[tuple[int, str], CellRows] = {}
    mark = database.placeholder(conn)
    for chunk in _chunks(sorted(cells.items())):
        rows = ", ".join([f"({mark}, {mark}, {mark})"] * len(chunk))
        columns = ", ".join(f"e.{name.strip()}" for name in _EVIDENCE_COLUMNS.split(","))
        sql = (
            f"WITH v (learner, target, upto) AS (VALUES {rows}) SELECT {columns} "
            "FROM evidence e JOIN v ON e.learner_id = v.learner AND e.target = v.target "
            f"AND e.id > v.upto WHERE e.retracted = {_false(conn)}"
        )
        _collect(_fetch(conn, sql, [v for (cell, upto) in chunk for v in (*cell, upto)]), out)
    return out


def _false(conn: Connection) -> str:
    return "false" if database.is_postgresql(conn) else "0"


# --- stored state ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredRole:
    score: float
    level: str


class StoredCell(NamedTuple):
    """A cell's state as stored: ``upto`` is the highest evidence id it counts (or saw) and
    ``key`` the model fingerprint it was computed under (None for cells stored before exact
    sums were kept: they are summed again when next touched). ``state`` leaves out the exact
    sum (most stored cells are only scored); ``exact_state`` parses it."""

    state: CellState
    exact: str | None
    low: int | None
    upto: int | None
    key: str | None

    def extends(self, key: str) -> bool:
        return self.key == key and self.exact is not None and self.upto is not None

    def exact_state(self) -> CellState:
        return self.state._replace(exact=int(self.exact or "0", 16), low=self.low or 0)


_CELL_COLUMNS = "learner_id, target, total, scale, counted, next_change, exact, low, upto, model"


def _stored_cell(row: tuple) -> StoredCell:
    next_change = _utc(row[5]) if row[5] is not None else None
    return StoredCell(CellState(row[2], row[3], row[4], next_change), row[6], row[7], row[8],
                      row[9])


def _stored_cells(conn: Connection, learner_ids: Sequence[int]) -> dict[int, dict[str, StoredCell]]:
    out: dict[int, dict[str, StoredCell]] = {}
    mark = database.placeholder(conn)
    for chunk in _chunks(sorted(set(learner_ids))):
        sql = (
            f"SELECT {_CELL_COLUMNS} FROM readiness_cells "
            f"WHERE learner_id IN ({', '.join([mark] * len(chunk))})"
        )
        for row in _fetch(conn, sql, chunk):
            out.setdefault(row[0], {})[row[1]] = _stored_cell(row)
    return out


def _stored_roles(conn: Connection, learner_ids: Sequence[int]) -> dict[int, dict[str, StoredRole]]:
    out: dict[int, dict[str, StoredRole]] = {}
    mark = database.placeholder(conn)
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
    extended: int = 0  # cells updated from their new evidence only (the rest were summed again)
    moved: list[int] = field(default_factory=list)  # learners with a role change


# Namespace of the PostgreSQL advisory locks that serialise readiness writes per learner.
_LEARNER_LOCKS = 7501


def lock_learners(conn: Connection, learner_ids: Sequence[int]) -> None:
    """On PostgreSQL, hold each learner's readiness lock until the transaction ends.

    Workers processing different batches can touch the same learner; without the lock both
    read the learner's cells before either writes (duplicate keys, lost updates). Locks are
    taken in ascending id order, so two workers never wait on each other in a cycle; one
    executemany sends them all at once (psycopg pipelines it, still one after the other).
    SQLite has one writer at a time and needs nothing.
    """
    if conn.dialect.name != "postgresql":
        return
    _execute_many(conn, "SELECT pg_advisory_xact_lock(%s, %s)",
                  [(_LEARNER_LOCKS, learner_id) for learner_id in sorted(set(learner_ids))])


def readiness_handler(conn: Connection, entries: Sequence) -> None:
    """Processing handler (after the mapping handler, same transaction): the cells the batch's
    statements touched, their roll-ups, snapshots and outbox entries.

    With each touched cell comes the lowest id among the batch's evidence rows in it (retracted
    ones included): a stored cell that counts up to a lower id only needs the rows after it;
    one that already saw such a row (a voided statement's, or a row reinstated) is summed
    again. With each learner come the ids of the requests that stored its statements, for the
    delivery logs of its changes. The batch's rows are those the mapping handler read after
    writing (``evidence.hand_on``), or read here. On SQLite they are handed on to ``update``
    too (``batch_rows``): nothing else writes evidence during the batch's transaction.
    """
    ids = sorted({entry.statement_id for entry in entries})
    if not ids:
        return
    from lrs_connector.store import evidence  # it imports learners, which import this module

    requests = {entry.statement_id: entry.request_id for entry in entries if entry.request_id}
    rows = evidence.handed_on(conn, ids)
    if rows is None:
        rows = evidence.of_statements(conn, ids)
    rows.sort(key=_by_cell_and_statement)
    touched: dict[int, set[str]] = {}
    first: dict[tuple[int, str], int] = {}
    carried: dict[int, list[str]] = {}
    by_cell: dict[tuple[int, str], list[tuple]] = {}
    for row in rows:
        learner_id, statement_id, target, row_id = row[0], row[2], row[3], row[12]
        cell = (learner_id, target)
        found = by_cell.get(cell)
        if found is None:
            touched.setdefault(learner_id, set()).add(target)
            found = by_cell[cell] = []
            first[cell] = row_id
        elif row_id < first[cell]:
            first[cell] = row_id
        found.append(row)
        if statement_id in requests:
            carried.setdefault(learner_id, []).append(requests[statement_id])
    if touched:
        update(conn, touched, datetime.now(UTC), first_new=first, request_ids=carried,
               batch_rows=by_cell if conn.dialect.name == "sqlite" else None)


def _by_cell_and_statement(row: tuple) -> tuple:
    return row[0], row[3], row[2], row[12]


def recompute(conn: Connection, learner_ids: Sequence[int], now: datetime | None = None) -> Outcome:
    """Recompute whole learners from their evidence (after a merge, split or replay)."""
    now = now or datetime.now(UTC)
    lock_learners(conn, learner_ids)
    found = _collect(_rows_of_learners(conn, learner_ids))
    stored = _stored_cells(conn, learner_ids)
    return update(conn, _cells_of(learner_ids, found, stored), now, evidence_by_cell=found,
                  stored_cells=stored)


def _rows_of_learners(conn: Connection, learner_ids: Sequence[int]) -> Iterator[tuple]:
    mark = database.placeholder(conn)
    for chunk in _chunks(sorted(set(learner_ids))):
        sql = (
            f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE retracted = {_false(conn)} "
            f"AND learner_id IN ({', '.join([mark] * len(chunk))})"
        )
        yield from _fetch(conn, sql, chunk)


def _cells_of(
    learner_ids: Iterable[int],
    found: dict[tuple[int, str], CellRows],
    stored: dict[int, dict[str, StoredCell]],
) -> dict[int, set[str]]:
    """Every cell of the learners: with evidence now, or stored before."""
    touched: dict[int, set[str]] = {learner: set(stored.get(learner, ())) for learner in
                                    learner_ids}
    for learner, target in found:
        touched.setdefault(learner, set()).add(target)
    return touched


def update(
    conn: Connection,
    touched: dict[int, set[str]],
    now: datetime,
    *,
    model: ScoringModel | None = None,
    evidence_by_cell: dict[tuple[int, str], CellRows] | None = None,
    stored_cells: dict[int, dict[str, StoredCell]] | None = None,
    first_new: dict[tuple[int, str], int] | None = None,
    request_ids: dict[int, list[str]] | None = None,
    batch_rows: dict[tuple[int, str], list[tuple]] | None = None,
) -> Outcome:
    """Recompute the ``touched`` cells of each learner (and cells whose counted evidence
    changed since they were stored), roll up, and write what changed.

    ``evidence_by_cell`` (whole learners' evidence) sums every touched cell again. Otherwise a
    touched cell whose stored state is current and counts every evidence id below
    ``first_new[cell]`` is extended with the rows after the ids it counts; any other is summed
    again from all its evidence.

    ``batch_rows`` (every evidence row of the batch's statements, retracted or not, by cell, as
    read in this transaction with nothing written since: ``_EVIDENCE_COLUMNS`` and
    ``retracted``) saves reading a touched cell again when they are all it has beyond what its
    stored state counts (``_reusable``).

    Outbox entries carry, for delivery logs, ``request_ids[learner]`` (the requests that stored
    the learner's statements in this batch) when given, else the ids the current work carries.
    """
    active = scorer(conn, model)
    key = state_key(active.model)
    learners = sorted(touched)
    lock_learners(conn, learners)
    if stored_cells is None:
        stored_cells = _stored_cells(conn, learners)
    pairs = {(learner, target) for learner, targets in touched.items() for target in targets}
    for learner in learners:
        for target, stored in stored_cells.get(learner, {}).items():
            if stored.state.next_change is not None and stored.state.next_change <= now:
                pairs.add((learner, target))
    outcome = Outcome(learners=len(learners))
    fresh = _new_states(conn, pairs, stored_cells, now, active.model, key, outcome,
                        evidence_by_cell, first_new or {}, batch_rows)
    stored_roles = _stored_roles(conn, learners)

    cell_rows: list[tuple] = []
    gone: list[tuple] = []
    role_rows: list[tuple] = []
    snapshots: list[tuple] = []
    messages: list[tuple] = []
    when = driver_time(conn, now)
    db_time = driver_times(conn)
    computed_at = now.isoformat()
    for learner in learners:
        states = {target: stored.state for target, stored in stored_cells.get(learner, {}).items()}
        written = []
        for target, (state, upto) in sorted(fresh.get(learner, {}).items()):
            if state.counted == 0 and state.next_change is None:
                states.pop(target, None)
                gone.append((learner, target))
            else:
                states[target] = state
                written.append((target, state, upto))
        own = active.proficiencies_at(states, now)
        for target, state, upto in written:
            cell_rows.append(
                (learner, target, state.total, state.scale, state.counted,
                 db_time(state.next_change), own[target], when, hex(state.exact),
                 state.low, upto, key)
            )
        scored = active.role_scores(own)
        before = stored_roles.get(learner, {})
        carried: tuple[str, ...] | None = None  # the learner's request ids, once it has news
        for role_iri, (score, level, code) in scored.items():
            previous = before.get(role_iri)
            if previous is not None and (
                round(previous.score, 1) == round(score, 1) and previous.level == level
            ):
                continue
            role_rows.append((learner, role_iri, score, level, when))
            snapshots.append((learner, role_iri, score, level, when))
            if not outcome.moved or outcome.moved[-1] != learner:
                outcome.moved.append(learner)
            counts.note("readiness", 1, code)
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
                "computed_at": computed_at,
            }
            if carried is None:
                carried = (logs.bounded(request_ids.get(learner, ())) if request_ids is not None
                           else logs.carried()).ids
            if carried:
                payload["request_ids"] = list(carried)
            messages.append(
                (learner, role_iri, "role", orjson.dumps(payload).decode(), when, "pending")
            )
    outcome.cells = len(cell_rows) + len(gone)
    outcome.changes = len(role_rows)
    _write(conn, cell_rows, gone, role_rows, snapshots, messages)
    return outcome


def _new_states(
    conn: Connection,
    pairs: set[tuple[int, str]],
    stored_cells: dict[int, dict[str, StoredCell]],
    now: datetime,
    model: ScoringModel,
    key: str,
    outcome: Outcome,
    evidence_by_cell: dict[tuple[int, str], CellRows] | None,
    first_new: dict[tuple[int, str], int],
    batch_rows: dict[tuple[int, str], list[tuple]] | None = None,
) -> dict[int, dict[str, tuple[CellState, int]]]:
    """{learner: {target: (new state, highest evidence id it counts)}} for the ``pairs``:
    extended from the stored state where that is exact (see ``update``), else summed again."""
    extend: dict[tuple[int, str], int] = {}
    if evidence_by_cell is None:
        for pair in pairs:
            stored = stored_cells.get(pair[0], {}).get(pair[1])
            if stored is not None and stored.extends(key) and first_new.get(pair, 0) > stored.upto:
                extend[pair] = stored.upto
        reused = _reusable(conn, pairs, extend, batch_rows) if batch_rows else {}
        evidence_by_cell = _evidence_of_cells(conn, pairs - extend.keys() - reused.keys())
        newer = _evidence_after(conn, {cell: upto for cell, upto in extend.items()
                                       if cell not in reused})
        for cell, rows in reused.items():
            (newer if cell in extend else evidence_by_cell)[cell] = rows
    else:
        newer = {}
    empty = CellRows([])
    out: dict[int, dict[str, tuple[CellState, int]]] = {}
    for learner, target in pairs:
        cell = (learner, target)
        state = None
        rows = evidence_by_cell.get(cell, empty)
        if cell in extend:
            rows = newer.get(cell, empty)
            state = add_to_state(stored_cells[learner][target].exact_state(), rows.items, now,
                                 model)
            upto = max(extend[cell], rows.upto)
            if state is None:  # new rows push old ones past MAX_SPREAD: sum the cell again
                rows = _evidence_of_cells(conn, [cell]).get(cell, empty)
            else:
                outcome.extended += 1
        if state is None:
            state = cell_state(rows.items, now, model)
            upto = rows.upto
        out.setdefault(learner, {})[target] = (state, upto)
    return out


def _reusable(
    conn: Connection,
    pairs: set[tuple[int, str]],
    extend: dict[tuple[int, str], int],
    batch_rows: dict[tuple[int, str], list[tuple]],
) -> dict[tuple[int, str], CellRows]:
    """What ``_evidence_after`` would read for the cells the batch has rows in (after the id
    their stored state counts up to when extended, else after 0), taken from the batch's rows.

    That is exact when the cell has no row above that id but the batch's: not so while a
    replay runs (its pages commit one by one, the rescoring comes at the end; processing goes
    on meanwhile), after one without rescoring, or with evidence loaded around the connector.
    The batch's rows above it are among the cell's rows above it, so counting the latter (the
    cell's index alone, no table rows) and finding no more tells; the other cells are read."""
    mine: dict[tuple[int, str], tuple[int, list[tuple]]] = {}
    for cell in pairs:
        rows = batch_rows.get(cell)
        if rows is not None:
            upto = extend.get(cell, 0)
            mine[cell] = (upto, [row for row in rows if row[12] > upto])
    others = _more_rows(conn, {cell: (upto, len(rows)) for cell, (upto, rows) in mine.items()})
    out: dict[tuple[int, str], CellRows] = {}
    for cell, (_, rows) in mine.items():
        if cell in others:
            continue
        rows.sort(key=_row_id)
        counted = _collect(row for row in rows if not row[13])  # as _evidence_after reads
        out[cell] = counted.get(cell, CellRows([]))
    return out


def _row_id(row: tuple) -> int:
    return row[12]


def _more_rows(
    conn: Connection, cells: dict[tuple[int, str], tuple[int, int]]
) -> set[tuple[int, str]]:
    """The cells with more evidence rows (retracted or not) above the given id than the given
    count. Only those come back: normally none."""
    out: set[tuple[int, str]] = set()
    mark = database.placeholder(conn)
    for chunk in _chunks(sorted(cells.items())):
        rows = ", ".join([f"({mark}, {mark}, {mark}, {mark})"] * len(chunk))
        sql = (
            f"WITH v (learner, target, upto, mine) AS (VALUES {rows}) "
            "SELECT v.learner, v.target FROM v WHERE (SELECT COUNT(*) FROM evidence e "
            "WHERE e.learner_id = v.learner AND e.target = v.target AND e.id > v.upto) > v.mine"
        )
        out.update(_fetch(conn, sql, [v for (cell, (upto, count)) in chunk
                                      for v in (*cell, upto, count)]))
    return out


def _write(conn, cell_rows, gone, role_rows, snapshots, messages) -> None:
    mark = database.placeholder(conn)
    marks = lambda n: ", ".join([mark] * n)  # noqa: E731
    _execute_many(
        conn, f"DELETE FROM readiness_cells WHERE learner_id = {mark} AND target = {mark}", gone
    )
    cell_columns = ("total", "scale", "counted", "next_change", "proficiency", "computed_at",
                    "exact", "low", "upto", "model")
    _execute_many(
        conn,
        f"INSERT INTO readiness_cells (learner_id, target, {', '.join(cell_columns)}) "
        f"VALUES ({marks(12)}) ON CONFLICT (learner_id, target) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in cell_columns),
        cell_rows,
    )
    _execute_many(
        conn,
        "INSERT INTO readiness_roles (learner_id, role, score, level, computed_at) "
        f"VALUES ({marks(5)}) ON CONFLICT (learner_id, role) DO UPDATE SET "
        "score = excluded.score, level = excluded.level, computed_at = excluded.computed_at",
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
    Stored scores of roles the framework in force no longer has are deleted (their history
    stays). ``progress(outcome so far, last learner id)`` is called after each chunk."""
    now = now or datetime.now(UTC)

    def step(conn: Connection, ids: list[int]) -> Outcome:
        found = _collect(_evidence_between(conn, ids[0], ids[-1]))
        stored = _stored_cells_between(conn, ids[0], ids[-1])
        outcome = update(conn, _cells_of(ids, found, stored), now, model=model,
                         evidence_by_cell=found, stored_cells=stored)
        roles = sorted(scorer(conn, model).framework.roles)
        conn.execute(
            readiness_roles.delete().where(
                readiness_roles.c.learner_id.between(ids[0], ids[-1]),
                readiness_roles.c.role.not_in(roles),
            )
        )
        return outcome

    return _in_chunks(engine, chunk_size, step, progress)


def refresh(
    engine: Engine,
    *,
    chunk_size: int = 2_000,
    now: datetime | None = None,
    model: ScoringModel | None = None,
    progress: Callable[[Outcome, int], None] | None = None,
) -> Outcome:
    """Every learner rolled up again at ``now`` from the stored cells, ``chunk_size`` learners
    per transaction: evidence fades and lapses with no new statement, so scores fall, and a
    score or level that moves goes to the history, the outbox and the badges like any other
    change. Only cells whose counted evidence changed by ``now`` are read again. The embedded
    processor runs it daily; ``lrs-connector readiness refresh`` on demand."""
    now = now or datetime.now(UTC)

    def step(conn: Connection, ids: list[int]) -> Outcome:
        done = update(conn, {learner: set() for learner in ids}, now, model=model,
                      request_ids={})
        _sync_badges(conn, done.moved, now)
        return done

    return _in_chunks(engine, chunk_size, step, progress)


def _in_chunks(
    engine: Engine,
    chunk_size: int,
    step: Callable[[Connection, list[int]], Outcome],
    progress: Callable[[Outcome, int], None] | None,
) -> Outcome:
    """``step`` over every learner with evidence or stored scores, a transaction per chunk."""
    total = Outcome()
    after = -1
    while True:
        with counts.counting(), database.write(engine) as conn:
            ids = _next_learners(conn, after, chunk_size)
            if not ids:
                break
            done = step(conn, ids)
        after = ids[-1]
        total.learners += done.learners
        total.cells += done.cells
        total.changes += done.changes
        total.extended += done.extended
        total.moved.extend(done.moved)
        if progress:
            progress(total, after)
    return total


def _sync_badges(conn: Connection, learners: list[int], now: datetime) -> None:
    from lrs_connector.badges import BadgeConfigError
    from lrs_connector.store import badges

    if not learners:
        return
    try:
        cfg = badges.config()
    except BadgeConfigError as exc:
        log.error("badges are not synced: %s", exc)
        return
    if cfg.enabled:
        badges.sync(conn, learners, now, badge_config=cfg)


def _next_learners(conn: Connection, after: int, limit: int) -> list[int]:
    mark = database.placeholder(conn)
    sql = (
        "SELECT learner_id FROM ("
        f"SELECT DISTINCT learner_id FROM evidence WHERE learner_id > {mark} UNION "
        f"SELECT DISTINCT learner_id FROM readiness_roles WHERE learner_id > {mark}) AS found "
        f"ORDER BY learner_id LIMIT {int(limit)}"
    )
    return [row[0] for row in _fetch(conn, sql, (after, after))]


def _evidence_between(conn: Connection, first: int, last: int) -> list[tuple]:
    mark = database.placeholder(conn)
    sql = (
        f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE retracted = {_false(conn)} "
        f"AND learner_id BETWEEN {mark} AND {mark}"
    )
    return _fetch(conn, sql, (first, last))


def _stored_cells_between(
    conn: Connection, first: int, last: int
) -> dict[int, dict[str, StoredCell]]:
    mark = database.placeholder(conn)
    sql = (
        f"SELECT {_CELL_COLUMNS} FROM readiness_cells "
        f"WHERE learner_id BETWEEN {mark} AND {mark}"
    )
    out: dict[int, dict[str, StoredCell]] = {}
    for row in _fetch(conn, sql, (first, last)):
        out.setdefault(row[0], {})[row[1]] = _stored_cell(row)
    return out


# --- reading results -------------------------------------------------------------------------


def learner_readiness(
    conn: Connection,
    learner_id: int,
    at: datetime | None = None,
    model: ScoringModel | None = None,
    *,
    strongest: int | None = None,
) -> Readiness:
    """One learner scored at ``at`` (default now), each cell with the items behind it.

    By default every item of every cell, scored live from evidence. With ``strongest``, a
    cell's score comes from its stored state (the same numbers, exactly) and only its
    ``strongest`` items strongest first are read and explained (``counted`` says how many
    there are): what a page shows, without reading thousands of rows. Cells whose stored
    state is missing, stale or from another model are scored live either way.
    """
    at = at or datetime.now(UTC)
    active = scorer(conn, model)
    if strongest is None:
        items = evidence_of(conn, [learner_id]).get(learner_id, [])
        return active.readiness(items, at)
    key = state_key(active.model)
    current: dict[str, CellState] = {}
    stale: list[tuple[int, str]] = []
    for target, (stored, computed_at) in _stored_with_time(conn, learner_id).items():
        state = stored.state
        if stored.key == key and computed_at <= at and (
            state.next_change is None or state.next_change > at
        ):
            current[target] = state
        else:
            stale.append((learner_id, target))
    cells = {}
    for (_, target), rows in _evidence_of_cells(conn, stale).items():
        cell = active.cell(target, rows.items, at)
        cells[target] = dataclasses.replace(cell, items=cell.items[:strongest])
    found = _strongest_items(conn, learner_id, set(current), at, active.model, strongest)
    for target, state in current.items():
        cells[target] = explain_state(target, state, found.get(target, []), at, active.top,
                                      active.model)
    return active.from_cells(cells, at)


def _stored_with_time(conn: Connection, learner_id: int) -> dict[str, tuple[StoredCell, datetime]]:
    sql = (f"SELECT {_CELL_COLUMNS}, computed_at FROM readiness_cells "
           f"WHERE learner_id = {database.placeholder(conn)}")
    return {row[1]: (_stored_cell(row), _utc(row[10])) for row in _fetch(conn, sql, [learner_id])}


def _strongest_items(
    conn: Connection, learner_id: int, targets: set[str], at: datetime, model: ScoringModel,
    limit: int,
) -> dict[str, list[EvidenceItem]]:
    """The ``limit`` items of each target that count most at ``at`` (ranked in SQL by
    ``ln |weight · confidence · kind weight| + t · ln 2 / half-life``, the log of the strength
    up to a constant), counted ones only."""
    if not targets or limit <= 0:
        return {}
    mark = database.placeholder(conn)
    kinds = sorted(model.kind_weights.items())
    weight = "(CASE kind " + " ".join(f"WHEN {mark} THEN {mark}" for _ in kinds) + \
        f" ELSE {mark} END)"
    weight_params = [v for pair in kinds for v in pair] + [model.other_kind_weight]
    if database.is_postgresql(conn):
        days = "(EXTRACT(EPOCH FROM timestamp) / 86400.0)"
    else:
        days = "julianday(timestamp)"
    strength = f"abs(weight * confidence * {weight})"
    when = driver_time(conn, at)
    sql = (
        f"SELECT {_EVIDENCE_COLUMNS} FROM (SELECT {_EVIDENCE_COLUMNS}, ROW_NUMBER() OVER ("
        f"PARTITION BY target ORDER BY ln({strength}) + {days} * {mark} DESC, statement_id, "
        f"key) AS place FROM evidence WHERE learner_id = {mark} AND retracted = {_false(conn)} "
        f"AND timestamp <= {mark} AND (valid_until IS NULL OR valid_until > {mark} "
        f"OR polarity = 'negative') AND {strength} >= {mark}) AS ranked "
        f"WHERE place <= {mark}"
    )
    params = [*weight_params, _LN2 / model.half_life_days, learner_id, when, when,
              *weight_params, MIN_STRENGTH, limit]
    out: dict[str, list[EvidenceItem]] = {}
    for row in _fetch_with_math(conn, sql, params):
        if row[3] in targets:
            out.setdefault(row[3], []).append(_item(row))
    return out


def _fetch_with_math(conn: Connection, sql: str, params: Sequence) -> list[tuple]:
    """``_fetch``, giving SQLite builds without the math functions a Python ``ln``."""
    try:
        return _fetch(conn, sql, params)
    except Exception as exc:
        if conn.dialect.name != "sqlite" or "no such function" not in str(exc):
            raise
    conn.connection.driver_connection.create_function("ln", 1, math.log, deterministic=True)
    return _fetch(conn, sql, params)


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


