"""The audit console's counters (rule hits, unmapped statements per verb and activity) equal
what counting over every stored row gives, through processing in small batches, voiding, and
a publish with replay."""

from __future__ import annotations

import threading
import uuid

import orjson
import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.mapping.cli import mapping
from lrs_connector.store import audit_counts, database
from tests.builders import statement, voiding
from tests.mapping.helpers import bundled_without_failed_rules


def _truth(conn, version: int) -> tuple[dict, dict, dict, int]:
    """The counts the slow way: every evidence row and statement (processed ones)."""
    hits = dict(conn.execute(sa.text(
        "SELECT rule_id, COUNT(DISTINCT statement_id) FROM evidence "
        "WHERE mapping_version = :v AND retracted = :f GROUP BY rule_id"),
        {"v": version, "f": False}).all())
    unmapped = (
        "FROM statements s WHERE s.voided = :f AND s.voids IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM evidence e WHERE e.statement_id = s.id AND e.retracted = :f) "
        "AND NOT EXISTS (SELECT 1 FROM processing_queue q WHERE q.statement_id = s.id)")
    verbs = dict(conn.execute(sa.text(
        f"SELECT s.verb_id, COUNT(*) {unmapped} GROUP BY s.verb_id"), {"f": False}).all())
    activities = dict(conn.execute(sa.text(
        f"SELECT COALESCE(s.object_id, ''), COUNT(*) {unmapped} GROUP BY s.object_id"),
        {"f": False}).all())
    total = conn.execute(sa.text(f"SELECT COUNT(*) {unmapped}"), {"f": False}).scalar_one()
    return hits, verbs, activities, total


def _kept(conn, version: int) -> tuple[dict, dict, dict, int]:
    return (audit_counts.hits(conn, version),
            dict(audit_counts.top_unmapped(conn, "verb", None)),
            dict(audit_counts.top_unmapped(conn, "activity", None)),
            audit_counts.unmapped_total(conn))


def _same(engine, *versions: int) -> None:
    with database.read(engine) as conn:
        for version in versions:
            assert _kept(conn, version) == _truth(conn, version)


def _post(client, headers, batch) -> None:
    answer = client.post("/xapi/statements", data=orjson.dumps(batch), headers=headers)
    assert answer.status_code == 200, answer.get_json()


def _process(engine, size: int = 7) -> None:
    processing.run(engine, batch_size=size, idle_seconds=0.01, stop=threading.Event(), once=True)


def test_counters_follow_processing_voiding_and_replay(client, source_headers, engine, runner,
                                                       tmp_path):
    others = [statement(verb={"id": f"https://example.org/verbs/{n % 3}",
                              "display": {"en-US": "did"}},
                        object={"objectType": "Activity", "id": f"https://example.org/a/{n % 4}"})
              for n in range(12)]
    _post(client, source_headers, demo.statements() + others)
    _same(engine, 1)  # nothing processed yet: nothing counted, in either way of counting
    _process(engine)
    with database.read(engine) as conn:
        kept = _kept(conn, 1)
    assert kept[0] and kept[3] >= len(others)
    _same(engine, 1)

    with database.read(engine) as conn:
        mapped = conn.execute(sa.text("SELECT MIN(statement_id) FROM evidence")).scalar_one()
    _post(client, source_headers, [voiding(mapped), voiding(others[0]["id"])])
    _process(engine)
    _same(engine, 1)

    # a new version without the failed-assessment rules, published with a replay
    draft = tmp_path / "draft.yaml"
    draft.write_text(bundled_without_failed_rules())
    assert runner.invoke(mapping, ["import", str(draft)]).exit_code == 0
    published = runner.invoke(mapping, ["publish", "2", "--replay"], catch_exceptions=False)
    assert published.exit_code == 0, published.output
    _same(engine, 1, 2)
    with database.read(engine) as conn:
        assert not audit_counts.hits(conn, 1)  # every version 1 row is superseded
        assert audit_counts.hits(conn, 2)
        kept = {version: _kept(conn, version) for version in (1, 2)}
    # counting everything again (what the migration does for older data) agrees
    with database.write(engine) as conn:
        audit_counts.rebuild(conn)
    with database.read(engine) as conn:
        assert {version: _kept(conn, version) for version in (1, 2)} == kept


def test_a_failed_batch_counts_nothing(client, source_headers, engine, monkeypatch):
    """Counts gathered by a batch that rolls back are dropped, and the retry counts once."""
    import pytest

    _post(client, source_headers, demo.statements())

    def broken(conn, entries):
        raise RuntimeError("readiness broke")

    handlers = list(processing.HANDLERS)
    monkeypatch.setattr(processing, "HANDLERS",
                        [h if h is not processing.readiness_handler else broken
                         for h in handlers])
    with pytest.raises(RuntimeError):
        processing.process_batch(engine, 500)
    monkeypatch.setattr(processing, "HANDLERS", handlers)
    _process(engine, 500)
    _same(engine, 1)
    with database.read(engine) as conn:
        assert audit_counts.hits(conn, 1)


def test_counters_stay_through_merges_and_splits(client, source_headers, engine):
    """A merge or split moves evidence between learners: no statement gains or loses a rule hit,
    and statements processed afterwards count on top."""
    from datetime import UTC, datetime

    from lrs_connector.store import learners as learner_store

    _post(client, source_headers, demo.statements())
    _process(engine)
    with database.read(engine) as conn:
        before = _kept(conn, 1)
        assert before[0] and before[3]
        owners = conn.execute(sa.text(
            "SELECT learner_id, COUNT(*) FROM evidence GROUP BY learner_id "
            "ORDER BY COUNT(*) DESC, learner_id")).all()
        assert len(owners) >= 2
        aliases = conn.execute(sa.text(
            "SELECT alias FROM learner_aliases WHERE learner_id = :l"),
            {"l": owners[0][0]}).scalars().all()
    with database.write(engine) as conn:
        learner_store.merge(conn, owners[0][0], owners[1][0], datetime.now(UTC))
    _same(engine, 1)
    with database.read(engine) as conn:
        assert _kept(conn, 1) == before
    with database.write(engine) as conn:
        learner_store.split(conn, owners[0][0], aliases[:1], datetime.now(UTC), "split off")
    _same(engine, 1)
    with database.read(engine) as conn:
        assert _kept(conn, 1) == before

    again = [{**s, "id": str(uuid.uuid4())} for s in demo.statements()]  # the same learners
    _post(client, source_headers, again)
    _process(engine)
    _same(engine, 1)
    with database.read(engine) as conn:
        after = _kept(conn, 1)
    assert all(after[0][rule] == 2 * n for rule, n in before[0].items())
