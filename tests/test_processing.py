"""The processing queue and loop: batches, no double processing, roll back on failure."""

from __future__ import annotations

import threading

import orjson
import pytest

from lrs_connector import processing
from lrs_connector.store import database, queue
from tests.builders import statement, voiding


def _post(client, headers, n):
    batch = [statement() for _ in range(n)]
    assert (
        client.post("/xapi/statements", data=orjson.dumps(batch), headers=headers).status_code
        == 200
    )
    return [s["id"] for s in batch]


def test_loop_takes_everything_in_batches_and_stops_when_empty(client, source_headers, engine):
    _post(client, source_headers, 7)
    sizes = []
    total = processing.run(
        engine,
        batch_size=3,
        idle_seconds=0.01,
        stop=threading.Event(),
        once=True,
        on_batch=sizes.append,
    )
    assert total == 7 and sizes == [3, 3, 1]
    with database.read(engine) as conn:
        assert queue.depth(conn) == 0


def test_a_failing_handler_leaves_the_batch_queued(client, source_headers, engine):
    ids = _post(client, source_headers, 2)

    def broken(conn, entries):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        processing.process_batch(engine, 10, handlers=[broken])
    seen = []
    processing.process_batch(engine, 10, handlers=[lambda conn, entries: seen.extend(entries)])
    assert [e.statement_id for e in seen] == ids


def test_concurrent_workers_never_take_the_same_entry(client, source_headers, engine):
    ids = _post(client, source_headers, 200)
    seen: list[str] = []
    lock = threading.Lock()

    def record(conn, entries):
        with lock:
            seen.extend(e.statement_id for e in entries)

    def worker():
        while processing.process_batch(engine, 7, handlers=[record]):
            pass

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(ids)


def test_a_one_off_run_stops_on_an_error_instead_of_retrying_for_ever(
    client, source_headers, engine, monkeypatch
):
    _post(client, source_headers, 1)

    def broken(conn, entries):
        raise RuntimeError("boom")

    monkeypatch.setattr(processing, "HANDLERS", [broken])
    with pytest.raises(RuntimeError):
        processing.run(engine, batch_size=10, idle_seconds=0.01, stop=threading.Event(), once=True)
    with database.read(engine) as conn:
        assert queue.depth(conn) == 1


# --- reading and mapping ahead of the write lock (SQLite; processing.Prepared) ---------------

FINANCE_COURSE = "https://moodle.demo.lrs-connector.dev/course/finance-for-ld"


def _completed_course() -> dict:
    done = statement(
        result={"completion": True}, verb={"id": "http://adlnet.gov/expapi/verbs/completed"}
    )
    done["object"]["id"] = FINANCE_COURSE
    return done


def _evidence_of(engine, statement_id: str) -> list:
    import sqlalchemy as sa

    from lrs_connector.store.mapping_tables import evidence

    with database.read(engine) as conn:
        return conn.execute(
            sa.select(evidence).where(evidence.c.statement_id == statement_id)
        ).all()


def _batch_with(engine, monkeypatch, prepared) -> int:
    """One batch that finds `prepared` (read earlier) as its head start."""
    monkeypatch.setattr(processing, "prepare", lambda engine, limit: prepared)
    return processing.process_batch(engine, 50)


def test_what_is_prepared_ahead_is_what_the_batch_stores(client, source_headers, engine):
    from lrs_connector import demo

    posted = demo.statements()
    assert client.post("/xapi/statements", data=orjson.dumps(posted),
                       headers=source_headers).status_code == 200
    processing.process_batch(engine, 1)  # the bundled mapping gets published
    prepared = processing.prepare(engine, 500)
    assert prepared is not None and prepared.version == 1
    voiding_ids = {s["id"] for s in posted if s["verb"]["id"].endswith("/voided")}
    assert not voiding_ids & set(prepared.documents)
    while processing.process_batch(engine, 500):
        pass
    compared = 0
    for statement_id, (_, derived) in prepared.derived.items():
        stored = {row.key for row in _evidence_of(engine, statement_id)}
        assert stored == {d.key for d in derived}, statement_id
        compared += bool(derived)
    assert compared >= 10


def test_a_statement_voided_after_it_was_prepared_gives_no_evidence(
    client, source_headers, engine, monkeypatch
):
    target = _completed_course()
    prepared = _prepared_after_posting(client, source_headers, engine, target)
    assert target["id"] in prepared.documents and prepared.derived[target["id"]][1]
    _post_body(client, source_headers, [voiding(target["id"])])
    assert _batch_with(engine, monkeypatch, prepared) == 3  # stored, its voiding, "voided"
    assert _evidence_of(engine, target["id"]) == []


def test_a_mapping_published_after_preparing_is_the_one_applied(
    client, source_headers, engine, monkeypatch
):
    from datetime import UTC, datetime

    from lrs_connector.store import mapping as mapping_store
    from tests.mapping.helpers import bundled_without_failed_rules

    target = _completed_course()
    prepared = _prepared_after_posting(client, source_headers, engine, target)
    with database.write(engine) as conn:
        version = mapping_store.import_version(
            conn, bundled_without_failed_rules(), "test", datetime.now(UTC), publish=True
        )
    assert version == prepared.version + 1
    _batch_with(engine, monkeypatch, prepared)
    found = _evidence_of(engine, target["id"])
    assert found and {row.mapping_version for row in found} == {version}


def test_statements_queued_after_preparing_are_read_and_mapped_in_the_batch(
    client, source_headers, engine, monkeypatch
):
    first, second = _completed_course(), _completed_course()
    prepared = _prepared_after_posting(client, source_headers, engine, first)
    _post_body(client, source_headers, [second])
    assert second["id"] not in prepared.documents
    assert _batch_with(engine, monkeypatch, prepared) == 2
    assert _evidence_of(engine, first["id"]) and _evidence_of(engine, second["id"])


def _prepared_after_posting(client, headers, engine, posted: dict):
    """`posted` stored and queued, the bundled mapping published, the queue head prepared."""
    _post_body(client, headers, [posted])
    _publish_bundled(engine)
    return processing.prepare(engine, 10)


def _publish_bundled(engine) -> None:
    from datetime import UTC, datetime

    from lrs_connector.store import mapping as mapping_store

    with database.write(engine) as conn:
        assert mapping_store.active(conn, datetime.now(UTC)).version == 1


def _post_body(client, headers, batch):
    answer = client.post("/xapi/statements", data=orjson.dumps(batch), headers=headers)
    assert answer.status_code == 200, answer.json
