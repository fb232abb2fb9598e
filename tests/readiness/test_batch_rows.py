"""The readiness handler scores touched cells from the batch's own evidence rows (SQLite) only
when those are all the cell has beyond what its stored state counts: rows written around the
processing (a replay without rescoring, a bulk load) and retracted rows of the batch are
counted exactly as reading the cell again would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lrs_connector.frameworks.documents import load_bundled
from lrs_connector.store import database
from lrs_connector.store import readiness as store
from lrs_connector.store.queue import QueueEntry
from lrs_connector.store.readiness_tables import readiness_cells

_NOW = datetime.now(UTC)


@pytest.fixture
def target() -> str:
    framework = load_bundled()
    return sorted(c.iri for c in framework.competencies.values() if c.parent is not None)[0]


@pytest.fixture
def learner(engine) -> int:
    with database.write(engine) as conn:
        return conn.execute(sa.text(
            "INSERT INTO learners (name, created_at) VALUES ('x', :t) RETURNING id"),
            {"t": _NOW}).scalar_one()


def _evidence(conn, statement_id: str, learner: int, target: str, days: int,
              retracted: bool = False) -> None:
    moment = (_NOW - timedelta(days=days)).replace(tzinfo=None)
    conn.execute(sa.text(
        "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, mapping_version, "
        "target, weight, polarity, kind, confidence, timestamp, created_at, retracted) VALUES "
        "(:key, :sid, :learner, 'a', 'r', 1, :target, :weight, 'positive', 'practice', 0.8, "
        ":at, :at, :retracted)"),
        {"key": f"k-{statement_id}", "sid": statement_id, "learner": learner, "target": target,
         "weight": 1.0 + days / 8, "at": moment, "retracted": retracted})


def _handle(engine, *statement_ids: str) -> None:
    with database.write(engine) as conn:
        store.readiness_handler(
            conn, [QueueEntry(n, sid, "stored") for n, sid in enumerate(statement_ids)])


def _cell(engine, learner: int, target: str) -> tuple:
    with database.read(engine) as conn:
        row = conn.execute(sa.select(readiness_cells).where(
            readiness_cells.c.learner_id == learner, readiness_cells.c.target == target)).one()
        items = store.evidence_of(conn, [learner])[learner]
    return (row.total, row.scale, row.counted, row.exact, row.low, row.upto), items


def _summed(items) -> tuple:
    state = store.cell_state(items, datetime.now(UTC), store.configured_model())
    return state.total, state.scale, state.counted, hex(state.exact), state.low


@pytest.fixture
def reads(monkeypatch) -> list:
    """The cells the update read from the evidence table (every read goes through
    ``_evidence_after``)."""
    seen: list = []
    real = store._evidence_after

    def spy(conn, cells):
        seen.extend(cells)
        return real(conn, cells)

    monkeypatch.setattr(store, "_evidence_after", spy)
    return seen


def test_rows_written_around_processing_are_counted_in_new_and_extended_cells(
    engine, learner, target, reads
):
    with database.write(engine) as conn:
        _evidence(conn, "outside-1", learner, target, 3)  # no handler ran for it
        _evidence(conn, "batch-1", learner, target, 2)
    _handle(engine, "batch-1")
    stored, items = _cell(engine, learner, target)
    assert len(items) == 2 and stored[2] == 2 and stored[:5] == _summed(items)
    assert reads == [(learner, target)]  # the batch's row alone is not all the cell has

    with database.write(engine) as conn:
        _evidence(conn, "outside-2", learner, target, 1)
        _evidence(conn, "batch-2", learner, target, 0)
    reads.clear()
    _handle(engine, "batch-2")
    stored, items = _cell(engine, learner, target)
    assert len(items) == 4 and stored[2] == 4 and stored[:5] == _summed(items)
    assert stored[5] == max(_ids(engine))
    assert reads == [(learner, target)]


def test_a_cell_with_only_the_batch_rows_beyond_its_state_is_not_read_again(
    engine, learner, target, reads
):
    """New and extended cells from the batch's rows alone, a retracted one among them (a
    voided statement's) left out: the same state as summing every counted row."""
    with database.write(engine) as conn:
        _evidence(conn, "batch-1", learner, target, 3)
    _handle(engine, "batch-1")
    with database.write(engine) as conn:
        _evidence(conn, "voided", learner, target, 2, retracted=True)
        _evidence(conn, "batch-2", learner, target, 1)
    _handle(engine, "voided", "batch-2")
    stored, items = _cell(engine, learner, target)
    assert sorted(i.statement_id for i in items) == ["batch-1", "batch-2"]
    assert stored[2] == 2 and stored[:5] == _summed(items)
    assert stored[5] == max(_ids(engine, retracted=False))
    if engine.dialect.name == "sqlite":
        assert reads == []
    else:  # other workers write evidence meanwhile: PostgreSQL reads the cells
        assert reads


def _ids(engine, retracted: bool | None = None) -> list[int]:
    where = "" if retracted is None else f" WHERE retracted = {'true' if retracted else 'false'}"
    with database.read(engine) as conn:
        return list(conn.execute(sa.text(f"SELECT id FROM evidence{where}")).scalars())
