"""The processing queue and loop: batches, no double processing, roll back on failure."""

from __future__ import annotations

import threading

import orjson
import pytest

from lrs_connector import processing
from lrs_connector.store import database, queue
from tests.builders import statement


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
