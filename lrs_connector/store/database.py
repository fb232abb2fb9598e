"""Engines for SQLite (embedded default) and PostgreSQL (scale-out), and transactions on them.

SQLite runs in WAL mode with `synchronous=NORMAL`: a committed statement survives a process
crash, and readers never wait for the writer. Every write transaction starts with
`BEGIN IMMEDIATE`, so two writers queue on the lock instead of failing half-way with
"database is locked" after reading. Writers of this service also queue on a lock file beside
the database first: SQLite's own busy handler polls with sleeps of up to 100 ms, a lock file
wakes the next writer the moment the previous one commits (the p99 of intake depends on it).
The WAL is checkpointed every 10,000 pages (40 MB) rather than SQLite's 1,000: index pages
written again and again between checkpoints are copied back once, and checkpoints were a
quarter of the processing commit cost (bench/mapping.py). Long-running processes also
checkpoint passively ten times a second from a thread (`checkpoint_in_background`), so a commit
seldom pays for a checkpoint while holding the write turn.

Each connection's page cache may grow to 8 MB (`PAGE_CACHE_KIB`; SQLite's default is 2 MB). A
500-statement intake transaction touches more pages than 2 MB hold (the statement table and the
audit console's indexes on it), and SQLite then reads pages it has just evicted again: 9-11
`pread` and 12-14 `pwrite` calls per statement against 1-2 and 7.6 with 8 MB, and half the
kernel time (intake in process, 20,000 statements stored first: 24-34 µs per statement
against 11-14; 4 MB still took 26-27, 16 MB 12). It fills only as pages are read.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
PAGE_CACHE_KIB = 8 * 1024
CHECKPOINT_EVERY_SECONDS = 0.1

log = logging.getLogger(__name__)


def _json_dumps(value) -> str:
    return orjson.dumps(value).decode()


class WriterLock:
    """One SQLite writer at a time across threads (a mutex) and processes (flock)."""

    def __init__(self, path: str) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


_writer_locks: dict[str, WriterLock] = {}
_writer_locks_guard = threading.Lock()


def lock_path(database: str, name: str) -> str:
    """The lock file beside an SQLite database: ``writer`` for the writers' turn, or the name
    of a loop that runs alone (`sole_worker`)."""
    return f"{Path(database).resolve()}.{name}-lock"


def _writer_lock(engine: Engine):
    lock = _writer_locks.get(engine.url.database or "")
    if lock is not None:
        return lock
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return nullcontext()
    with _writer_locks_guard:
        if database not in _writer_locks:
            _writer_locks[database] = WriterLock(lock_path(database, "writer"))
        return _writer_locks[database]


def checkpoint_in_background(engine: Engine) -> threading.Event | None:
    """SQLite: copy the WAL back into the database file every 0.1 s from a thread of its own
    (a passive checkpoint, which runs beside readers and writers). Long-running processes
    start it; several processes may, one checkpoints at a time. Set the returned event to stop.

    Why a thread: the commit that crosses `wal_autocheckpoint` would otherwise do it while
    holding the write turn (that made commits in a long processing run 2-3 times slower).
    Why so often: a checkpoint ends with an fsync of the database file, and while the file
    system flushes, appends to the WAL wait; the more a checkpoint has to flush, the longer
    they wait. Checkpointing every second, 1 single-statement POST in 100 waited 31-35 ms for
    it; every 0.1 s, 14-18 ms (bench/ingest.py, wrk)."""
    if not takes_turns(engine):
        return None
    stop = threading.Event()
    existing_file = Path(engine.url.database).resolve().as_uri() + "?mode=rw"  # never create it

    def loop() -> None:
        connection = None
        while not stop.wait(CHECKPOINT_EVERY_SECONDS):
            try:
                if connection is None:
                    connection = sqlite3.connect(existing_file, uri=True, timeout=0,
                                                 isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # busy (another checkpointer) or gone: try again later
                log.debug("background checkpoint skipped: %s", exc)
                if connection is not None:
                    connection.close()
                    connection = None
        if connection is not None:
            connection.close()

    threading.Thread(target=loop, name="lrs-checkpoint", daemon=True).start()
    return stop


def takes_turns(engine: Engine) -> bool:
    """True on a SQLite database file: one writer at a time, across processes."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


@contextmanager
def sole_worker(engine: Engine, name: str) -> Iterator[int | None]:
    """On SQLite, wait until no other process runs the `name` loop, then run it alone.

    Writers on SQLite take turns anyway, so a second processing loop would only contend for
    the write lock with intake. When the holder's process dies, the lock is released and the
    next waiting process takes over. PostgreSQL runs any number of loops side by side.

    Yields the lock's file descriptor on SQLite (None otherwise): a child process that runs
    the loop inherits it, and the lock is held until the child has ended too.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield None
        return
    fd = os.open(lock_path(database, name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def create_engine(url: str) -> Engine:
    """An engine configured for this service's access pattern on either database."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            poolclass=sa.pool.QueuePool,
            pool_size=8,
            max_overflow=8,
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection):
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.connection.driver_connection.execute(f"BEGIN {mode}")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back on any error. The connection
    is checked out before the writer lock is taken, so the lock covers the transaction only."""
    with engine.connect() as connection, _writer_lock(engine), connection.begin():
        yield connection


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction; on SQLite it takes no write lock."""
    with (
        engine.connect().execution_options(sqlite_begin="DEFERRED") as connection,
        connection.begin(),
    ):
        yield connection


def is_postgresql(connection: Connection | Engine) -> bool:
    return connection.dialect.name == "postgresql"


def placeholder(conn: Connection) -> str:
    """The driver's bind marker, for SQL sent through the driver cursor on hot paths: ``?``
    for sqlite3, ``%s`` for psycopg."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple]:
    """The rows of ``sql`` (bind markers from `placeholder`) run through the driver's cursor
    in the caller's transaction: on the processing hot path SQLAlchemy's statement building and
    row processing cost more than the SQL itself."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return cursor.fetchall()
    finally:
        cursor.close()
