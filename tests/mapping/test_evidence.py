"""Statements posted to the connector become evidence rows; reprocessing never duplicates;
voiding retracts; several PostgreSQL workers never process a statement twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.store import database, schema
from lrs_connector.store import mapping as mapping_store
from lrs_connector.store.learner_tables import learners
from lrs_connector.store.mapping_tables import evidence, mapping_versions
from tests.builders import statement, voiding
from tests.mapping.helpers import ADL


def post(client, headers, batch):
    response = client.post("/xapi/statements", data=orjson.dumps(batch), headers=headers)
    assert response.status_code == 200, response.json
    return batch


def drain(engine, batch_size=500):
    return processing.run(
        engine, batch_size=batch_size, idle_seconds=0.01, stop=threading.Event(), once=True
    )


def rows(engine, *where):
    with database.read(engine) as conn:
        return conn.execute(sa.select(evidence).where(*where)).all()


def test_demo_statements_become_traceable_evidence(client, source_headers, engine):
    post(client, source_headers, demo.statements())
    drain(engine)
    with database.read(engine) as conn:
        versions = conn.execute(sa.select(mapping_versions)).all()
        assert [(v.version, v.status) for v in versions] == [(1, "published")]
        assert conn.execute(sa.select(sa.func.count()).select_from(learners)).scalar_one() == 5
    found = rows(engine)
    assert {r.statement_id for r in found} == {
        s["id"] for s in demo.statements() if not demo.needs_demo_mapping(s)
    }
    negative = [r for r in found if r.polarity == "negative"]
    assert {r.rule_id for r in negative} == {
        "failed-finance-for-ld", "failed-change-leadership", "failed-learning-analytics"
    }
    row = found[0]
    assert row.mapping_version == 1 and row.rule_id and row.confidence > 0
    assert row.timestamp.tzinfo is not None


def test_reprocessing_never_duplicates(client, source_headers, engine):
    batch = post(client, source_headers, demo.statements())
    drain(engine)
    before = len(rows(engine))
    with database.write(engine) as conn:
        processing.map_to_evidence(
            conn, [processing.queue.QueueEntry(0, s["id"], "stored") for s in batch]
        )
    assert len(rows(engine)) == before


def test_voiding_retracts_the_evidence(client, source_headers, engine):
    target = statement(result={"completion": True}, verb={"id": ADL + "completed"})
    target["object"]["id"] = "https://moodle.demo.lrs-connector.dev/course/finance-for-ld"
    post(client, source_headers, [target])
    drain(engine)
    assert rows(engine, evidence.c.retracted.is_(False))
    post(client, source_headers, [voiding(target["id"])])
    drain(engine)
    left = rows(engine, evidence.c.statement_id == target["id"])
    assert left and all(r.retracted and r.retraction == "voided" for r in left)


def test_mbox_and_sha1_actors_are_one_learner(client, source_headers, engine):
    import hashlib

    course = {
        "objectType": "Activity",
        "id": "https://moodle.demo.lrs-connector.dev/course/finance-for-ld",
    }
    sha1 = hashlib.sha1(b"mailto:ada@example.org").hexdigest()
    post(
        client,
        source_headers,
        [
            statement(object=course, result={"completion": True}),
            statement(
                object=course,
                result={"completion": True},
                actor={"objectType": "Agent", "mbox_sha1sum": sha1},
            ),
        ],
    )
    drain(engine)
    assert len({r.learner_id for r in rows(engine)}) == 1


def test_concurrent_workers_map_each_statement_once(client, source_headers, engine):
    course = {
        "objectType": "Activity",
        "id": "https://moodle.demo.lrs-connector.dev/course/finance-for-ld",
    }
    batch = [
        statement(
            object=course,
            result={"completion": True},
            actor={"objectType": "Agent", "mbox": f"mailto:p{i % 40}@example.org"},
        )
        for i in range(400)
    ]
    post(client, source_headers, batch)
    with database.write(engine) as conn:  # publish first, so workers do not race to
        mapping_store.active(conn, datetime.now(UTC))
    counts: list[int] = []
    lock = threading.Lock()

    def worker():
        taken = drain(engine, batch_size=25)
        with lock:
            counts.append(taken)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 400
    found = rows(engine)
    # completed-finance-for-ld feeds three targets; one row each, no duplicates.
    assert len(found) == 400 * 3
    assert len({r.key for r in found}) == len(found)
    with database.read(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(learners)).scalar_one() == 40
    assert schema.is_current(engine)


def test_a_batch_reads_its_evidence_once_for_the_audit_counters_and_readiness(
    client, source_headers, engine, monkeypatch
):
    from lrs_connector.store import evidence as stored_evidence

    batch = post(client, source_headers, demo.statements())
    ids = sorted(s["id"] for s in batch)
    reads: list[list[str]] = []
    real = stored_evidence.of_statements

    def counted(conn, statement_ids):
        reads.append(list(statement_ids))
        return real(conn, statement_ids)

    monkeypatch.setattr(stored_evidence, "of_statements", counted)
    assert processing.process_batch(engine, 500) == len(batch)
    assert reads == [ids]  # the readiness handler took the mapping handler's rows
    with database.read(engine) as conn:
        scored = conn.execute(sa.text("SELECT COUNT(*) FROM readiness_cells")).scalar_one()
    assert scored > 0


def test_rows_handed_on_serve_only_the_same_statements_in_the_same_transaction_once(
    client, source_headers, engine
):
    from lrs_connector.store import evidence as stored_evidence

    batch = post(client, source_headers, demo.statements())
    drain(engine)
    ids = sorted(s["id"] for s in batch)
    with database.write(engine) as conn:
        rows_now = stored_evidence.of_statements(conn, ids)
        assert rows_now and all(len(row) == 14 for row in rows_now)
        assert stored_evidence.in_force(rows_now) == set(conn.execute(sa.text(
            "SELECT DISTINCT mapping_version, rule_id, statement_id FROM evidence "
            "WHERE retracted = :f"), {"f": False}).all())
        stored_evidence.hand_on(conn, ids, rows_now)
        assert stored_evidence.handed_on(conn, ids[1:]) is None  # other statements: read
        assert stored_evidence.handed_on(conn, ids) is None  # and what was kept is gone
        stored_evidence.hand_on(conn, ids, rows_now)
        assert stored_evidence.handed_on(conn, ids) is rows_now
        assert stored_evidence.handed_on(conn, ids) is None  # once
        stored_evidence.hand_on(conn, ids, rows_now)
    with database.write(engine) as conn:
        assert stored_evidence.handed_on(conn, ids) is None  # another transaction


def test_processing_again_under_a_new_version_supersedes_the_old_versions_rows(
    client, source_headers, engine, monkeypatch
):
    """A statement processed again after a publish without replay (reprocessed, re-admitted)
    counts under the new version only; the statements new to the batch have nothing to
    supersede, and on SQLite the supersede step is not even asked about them."""
    from lrs_connector.store import evidence as stored_evidence
    from tests.mapping.helpers import bundled_without_failed_rules

    post(client, source_headers, demo.statements())
    drain(engine)
    with_v1 = {r.statement_id for r in rows(engine)}
    again = sorted(with_v1)[:3]
    fresh = post(client, source_headers, [_completed_course(), _completed_course()])
    superseded: list[list[str]] = []
    real = stored_evidence.supersede

    def spy(conn, statement_ids, version, now):
        superseded.append(sorted(statement_ids))
        return real(conn, statement_ids, version, now)

    monkeypatch.setattr(stored_evidence, "supersede", spy)
    with database.write(engine) as conn:
        version = mapping_store.import_version(
            conn, bundled_without_failed_rules(), "test", datetime.now(UTC), publish=True
        )
        batch = [*again, *(s["id"] for s in fresh)]
        processing.map_to_evidence(
            conn, [processing.queue.QueueEntry(n, sid, "stored") for n, sid in enumerate(batch)]
        )
    assert version == 2
    assert any(r.mapping_version == 2 for r in rows(engine, evidence.c.statement_id.in_(again)))
    sqlite = engine.dialect.name == "sqlite"
    assert superseded == [sorted(again) if sqlite else sorted(batch)]
    for statement_id in with_v1 | {s["id"] for s in fresh}:
        found = rows(engine, evidence.c.statement_id == statement_id)
        in_force = {r.mapping_version for r in found if not r.retracted}
        if statement_id in again:
            assert {r.retraction for r in found if r.mapping_version == 1} == {"superseded"}
            assert in_force == ({2} if any(r.mapping_version == 2 for r in found) else set())
        elif statement_id in with_v1:
            assert in_force == {1}
        else:
            assert in_force == {2}  # new to the batch: mapped under version 2 alone


def _completed_course() -> dict:
    done = statement(result={"completion": True}, verb={"id": ADL + "completed"})
    done["object"]["id"] = "https://moodle.demo.lrs-connector.dev/course/finance-for-ld"
    return done
