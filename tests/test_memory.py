import gc

import pytest

from lrs_connector import memory


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_long_lived_objects_leave_the_collectors_reach(restored_collector):
    kept = [{"statement": n} for n in range(1000)]
    memory.tune_for_throughput()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == memory.YOUNG_COLLECTION_EVERY


def test_reference_cycles_made_afterwards_are_still_collected(restored_collector):
    memory.tune_for_throughput()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2


def test_the_background_checkpoint_copies_the_wal_into_the_database_file(tmp_path):
    import time

    import sqlalchemy as sa

    from lrs_connector.store import database

    engine = database.create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with database.write(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE notes (body TEXT)")
        conn.execute(sa.text("INSERT INTO notes VALUES (:b)"), [{"b": "x" * 4000}] * 250)
    db_file = tmp_path / "wal.db"
    before = db_file.stat().st_size
    assert before < 100_000  # ~1 MB of rows, all still in the WAL (autocheckpoint: 40 MB)
    stop = database.checkpoint_in_background(engine)
    try:
        deadline = time.monotonic() + 30  # ends as soon as the file has grown
        while db_file.stat().st_size < 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert db_file.stat().st_size >= 1_000_000
    engine.dispose()


def test_no_background_checkpoint_off_sqlite_files():
    from lrs_connector.store import database

    engine = database.create_engine("sqlite://")
    assert database.checkpoint_in_background(engine) is None


def test_every_sqlite_connection_is_configured(tmp_path):
    """The connect hook's settings hold on every pooled connection, not just the first."""
    from lrs_connector.store import database

    engine = database.create_engine(f"sqlite:///{tmp_path / 'configured.db'}")
    try:
        with database.read(engine) as first, database.read(engine) as second:
            assert first.connection.driver_connection is not second.connection.driver_connection
            for conn in (first, second):
                found = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in
                         ("journal_mode", "synchronous", "wal_autocheckpoint", "busy_timeout",
                          "foreign_keys", "cache_size")}
                assert found == {"journal_mode": "wal", "synchronous": 1,
                                 "wal_autocheckpoint": 10_000,
                                 "busy_timeout": database.SQLITE_BUSY_TIMEOUT_MS,
                                 "foreign_keys": 1, "cache_size": -database.PAGE_CACHE_KIB}
    finally:
        engine.dispose()
