"""Readiness through storage and the processing loop: the demo data, voiding, full recompute."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import hypothesis
import orjson
import pytest
import sqlalchemy as sa
from hypothesis import strategies as st

from lrs_connector import demo, processing
from lrs_connector.store import database
from lrs_connector.store import readiness as store
from lrs_connector.store.readiness_tables import (
    outbox,
    readiness_cells,
    readiness_roles,
    readiness_snapshots,
)
from tests.builders import voiding


def _process(engine) -> None:
    while processing.process_batch(engine, 500, handlers=[store.readiness_handler]):
        pass


def _cells(engine) -> dict:
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(readiness_cells)).all()
    return {
        (r.learner_id, r.target): (r.total, r.scale, r.counted, r.next_change, int(r.exact, 16),
                                   r.low)
        for r in rows
    }


def _roles(engine) -> dict:
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(readiness_roles)).all()
    return {(r.learner_id, r.role): (r.score, r.level) for r in rows}


def test_demo_gives_differentiated_scores_snapshots_and_outbox(engine, settings):
    demo.load(engine, settings, echo=lambda _: None)
    _process(engine)
    roles = _roles(engine)
    learners = {learner for learner, _ in roles}
    assert len(learners) == 5
    manager = "https://lrs-connector.dev/frameworks/lnd-leadership/roles/training-manager"
    scores = sorted(roles[(learner, manager)][0] for learner in learners)
    assert len({round(s, 1) for s in scores}) == 5  # five different learners, five scores
    assert all(0.0 <= s <= 100.0 for s in scores) and scores[-1] > 10.0
    with database.read(engine) as conn:
        snapshots = conn.execute(sa.select(sa.func.count()).select_from(readiness_snapshots))
        assert snapshots.scalar_one() == len(roles)
        messages = conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()
    assert messages and all(m.status == "pending" and m.target_kind == "role" for m in messages)
    payload = orjson.loads(messages[0].payload)
    assert roles[(payload["learner_id"], payload["role"])][1] == payload["level"]
    assert payload["score"] == round(roles[(payload["learner_id"], payload["role"])][0], 1)


def test_stored_cells_score_exactly_like_the_evidence(engine, settings):
    demo.load(engine, settings, echo=lambda _: None)
    _process(engine)
    at = datetime.now(UTC)
    with database.read(engine) as conn:
        scorer = store.scorer(conn)
        for (learner, target), state in _cells(engine).items():
            live = store.learner_readiness(conn, learner, at)
            stored = scorer.proficiency_at(store.CellState(*state), at)
            assert stored == live.cells[target].proficiency


def test_voiding_a_statement_restores_exactly_the_scores_before_it(
    engine, settings, client, source_headers
):
    demo.load(engine, settings, echo=lambda _: None)
    _process(engine)
    with database.read(engine) as conn:
        row = conn.execute(
            sa.text("SELECT statement_id, learner_id FROM evidence ORDER BY key LIMIT 1")
        ).one()
    statement_id, learner = row
    # Take the statement out by voiding it, score, then compare with a world where it never was.
    at = datetime.now(UTC)
    with database.read(engine) as conn:
        with_it = store.learner_readiness(conn, learner, at)
    response = client.post("/xapi/statements", json=voiding(statement_id), headers=source_headers)
    assert response.status_code == 200, response.get_json()
    _process(engine)
    with database.read(engine) as conn:
        without = store.learner_readiness(conn, learner, at)
        items = [
            i for i in store.evidence_of(conn, [learner])[learner]
        ]
        expected = store.scorer(conn).readiness(items, at)
    assert all(i.statement_id != statement_id for i in items)
    assert without.roles != with_it.roles
    assert {r: s.score for r, s in without.roles.items()} == {
        r: s.score for r, s in expected.roles.items()
    }
    # The stored cells are the decay-free state of the remaining evidence, exactly.
    for (owner, target), state in _cells(engine).items():
        if owner == learner:
            mine = [i for i in items if i.target == target]
            assert store.cell_state(mine, datetime.now(UTC), store.configured_model()) == (
                store.CellState(*state)
            )


def test_void_then_same_evidence_again_gives_the_same_stored_state(engine, settings):
    """Removing and re-adding evidence rows leaves the stored cells exactly as they were."""
    demo.load(engine, settings, echo=lambda _: None)
    _process(engine)
    before = _cells(engine)
    now = datetime.now(UTC)
    with database.write(engine) as conn:
        conn.execute(sa.text("UPDATE evidence SET retracted = :t"), {"t": True})
        store.recompute(conn, sorted({learner for learner, _ in before}), now)
    assert _cells(engine) == {}
    with database.write(engine) as conn:
        conn.execute(sa.text("UPDATE evidence SET retracted = :f"), {"f": False})
        store.recompute(conn, sorted({learner for learner, _ in before}), now)
    assert _cells(engine) == before


def test_full_recompute_streams_and_matches_the_incremental_result(engine, settings):
    demo.load(engine, settings, echo=lambda _: None)
    _process(engine)
    cells, roles = _cells(engine), _roles(engine)
    with database.write(engine) as conn:
        conn.execute(readiness_cells.delete())
    seen = []
    outcome = store.recompute_all(engine, chunk_size=2, progress=lambda o, last: seen.append(last))
    assert outcome.learners == 5 and len(seen) == 3 and seen == sorted(seen)
    assert _cells(engine) == cells
    assert {k: v[1] for k, v in _roles(engine).items()} == {k: v[1] for k, v in roles.items()}


def test_small_batches_extend_cells_and_end_exactly_where_a_full_recompute_does(
    engine, settings, client, source_headers, monkeypatch
):
    """Batches of three statements: most touched cells are extended with their new evidence
    (their stored state plus the new rows), a voided statement's cells are summed again, and
    the stored cells end exactly (exact sums included) as a full recompute from all evidence
    leaves them."""
    extended = []
    real = store.add_to_state

    def counting(state, items, at, model):
        found = real(state, items, at, model)
        if found is not None:
            extended.append(found)
        return found

    monkeypatch.setattr(store, "add_to_state", counting)
    everything = demo.statements() + demo.workplace_statements()
    response = client.post("/xapi/statements", json=everything, headers=source_headers)
    assert response.status_code == 200, response.get_json()
    while processing.process_batch(engine, 3):
        pass
    assert len(extended) > 20
    with database.read(engine) as conn:
        statement_id = conn.execute(
            sa.text("SELECT statement_id FROM evidence ORDER BY key LIMIT 1")).scalar_one()
    response = client.post("/xapi/statements", json=voiding(statement_id), headers=source_headers)
    assert response.status_code == 200, response.get_json()
    while processing.process_batch(engine, 3):
        pass
    cells, roles = _cells(engine), _roles(engine)
    with database.write(engine) as conn:
        conn.execute(readiness_cells.delete())
    store.recompute_all(engine)
    assert _cells(engine) == cells
    assert {k: v[1] for k, v in _roles(engine).items()} == {k: v[1] for k, v in roles.items()}


def test_a_page_reads_stored_cells_and_the_strongest_items_with_the_live_numbers(
    engine, settings
):
    """`strongest=N` scores from the stored cells and explains only the N strongest items of
    each: the same proficiencies, roles and contributions as scoring every item live, the
    same first N items in the same order, and every counted item counted. A cell stored under
    another model is scored live instead."""
    demo.load(engine, settings, echo=lambda _: None)
    at = datetime.now(UTC)
    with database.write(engine) as conn:
        conn.execute(sa.text(
            "UPDATE readiness_cells SET model = 'another-model' WHERE target = "
            "(SELECT MIN(target) FROM readiness_cells)"))
    with database.read(engine) as conn:
        learners = [row[0] for row in conn.execute(sa.text("SELECT id FROM learners"))]
        compared = 0
        for learner in learners:
            live = store.learner_readiness(conn, learner, at)
            page = store.learner_readiness(conn, learner, at, strongest=3)
            assert {r: s.score for r, s in page.roles.items()} == {
                r: s.score for r, s in live.roles.items()}
            assert page.cells.keys() == live.cells.keys()
            for target, cell in page.cells.items():
                expected = live.cells[target]
                assert cell.proficiency == expected.proficiency
                assert cell.counted == expected.counted == len(expected.items)
                assert [(i.item.key, i.contribution) for i in cell.items] == [
                    (i.item.key, i.contribution) for i in expected.items[:3]]
                compared += 1
    assert compared > 20


def test_refresh_lets_scores_fade_and_tells_the_outbox_once(engine, settings):
    """Three years on with no new statement, a refresh stores the lower scores (equal to
    scoring live at that moment), writes the history and outbox entries for the roles that
    moved, and a second refresh at the same moment changes nothing."""
    demo.load(engine, settings, echo=lambda _: None)
    before = _roles(engine)
    with database.read(engine) as conn:
        sent = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
    later = datetime.now(UTC) + timedelta(days=3 * 365)
    outcome = store.refresh(engine, now=later, chunk_size=2)
    after = _roles(engine)
    assert outcome.changes > 0 and outcome.moved
    assert all(after[key][0] <= before[key][0] for key in before)
    assert any(after[key][1] != before[key][1] for key in before)
    with database.read(engine) as conn:
        for learner in {learner for learner, _ in after}:
            live = store.learner_readiness(conn, learner, later)
            for role, scored in live.roles.items():
                assert after[(learner, role)] == (scored.score, scored.level)
        payloads = [orjson.loads(p) for p in conn.execute(
            sa.select(outbox.c.payload).order_by(outbox.c.id).offset(sent)).scalars()]
    assert payloads
    for payload in payloads:
        previous = before[(payload["learner_id"], payload["role"])]
        assert payload["previous_score"] == round(previous[0], 1)
        assert payload["score"] < payload["previous_score"] or payload["level"] != previous[1]
    again = store.refresh(engine, now=later)
    assert again.changes == 0 and _roles(engine) == after


@hypothesis.settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(data=st.data())
def test_voiding_any_statements_leaves_exactly_the_scores_of_the_rest(
    engine, settings, client, source_headers, data
):
    """Through intake and processing: whichever statements a voiding request takes out (one to
    three, in any order), every stored cell is the state of the remaining evidence, exactly, and
    every stored role score the one the rest gives. Examples share the database: each one voids
    more of the demo's statements."""
    with database.read(engine) as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM statements")).scalar_one()
    if not loaded:
        demo.load(engine, settings, echo=lambda _: None)
        _process(engine)
    with database.read(engine) as conn:
        counted = sorted(
            conn.execute(
                sa.text("SELECT DISTINCT statement_id FROM evidence WHERE NOT retracted")
            ).scalars()
        )
    hypothesis.assume(counted)
    # positions, not ids: what hypothesis draws must not depend on the database's state
    picks = data.draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=3))
    chosen = sorted({counted[p % len(counted)] for p in picks})
    response = client.post("/xapi/statements", json=[voiding(i) for i in chosen],
                           headers=source_headers)
    assert response.status_code == 200, response.get_json()
    _process(engine)

    now = datetime.now(UTC)
    model = store.configured_model()
    with database.read(engine) as conn:
        learners = sorted({owner for owner, _ in _cells(engine)})
        remaining = store.evidence_of(conn, learners)
    assert not any(i.statement_id in chosen for items in remaining.values() for i in items)
    for (owner, target), state in _cells(engine).items():
        mine = [i for i in remaining.get(owner, []) if i.target == target]
        assert store.cell_state(mine, now, model) == store.CellState(*state), (owner, target)
    with database.read(engine) as conn:
        for owner, items in remaining.items():
            shown = store.learner_readiness(conn, owner, now)
            expected = store.scorer(conn).readiness(items, now)
            assert {r: (s.score, s.level) for r, s in shown.roles.items()} == {
                r: (s.score, s.level) for r, s in expected.roles.items()
            }, owner


def test_a_batch_that_fails_after_scoring_leaves_no_readiness_behind(
    engine, settings, client, source_headers
):
    """Evidence, cells, role scores, snapshots and outbox entries commit with the batch or not
    at all: a handler failing after readiness rolls every one of them back."""
    demo.load(engine, settings, echo=lambda _: None)
    _process(engine)
    tables = ("evidence", "readiness_cells", "readiness_roles", "readiness_snapshots", "outbox")

    def state() -> dict:
        with database.read(engine) as conn:
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in tables}
        return {**counts, "cells": _cells(engine), "roles": _roles(engine)}

    before = state()
    again = [dict(s, id=str(uuid.uuid4())) for s in demo.statements()[:40]]
    assert client.post("/xapi/statements", json=again, headers=source_headers).status_code == 200

    def broken(conn, entries):
        raise RuntimeError("after scoring")

    handlers = [processing.map_to_evidence, store.readiness_handler, broken]
    with pytest.raises(RuntimeError, match="after scoring"):
        processing.process_batch(engine, 500, handlers=handlers)
    assert state() == before
    _process(engine)  # the batch is taken again, whole
    after = state()
    assert after["evidence"] > before["evidence"] and after["cells"] != before["cells"]
