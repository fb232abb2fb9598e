"""The processing loop: take queued statements in batches and hand them to the handlers.

Intake only stores and queues; everything downstream (mapping to evidence, readiness, the
outbox) runs here, one transaction per batch. The first handler maps statements to evidence
under the published mapping version (docs/mapping.md); later stages add theirs to HANDLERS.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine

from lrs_connector import counts, logs
from lrs_connector.settings import Settings
from lrs_connector.store import audit_counts, database, queue
from lrs_connector.store.badges import badges_handler
from lrs_connector.store.readiness import readiness_handler

log = logging.getLogger(__name__)

Handler = Callable[[Connection, Sequence[queue.QueueEntry]], None]


def map_to_evidence(conn: Connection, entries: Sequence[queue.QueueEntry]) -> None:
    """Stored statements become evidence under the published mapping; a voided statement's
    evidence is retracted. Runs inside the batch transaction: all of it or none. The audit
    console's counters follow what it changed (store/audit_counts.py); the batch's evidence
    rows, read once for them, go on to the readiness handler (`evidence.hand_on`)."""
    from lrs_connector.store import evidence

    ids = sorted({e.statement_id for e in entries})
    with audit_counts.tracking(conn, ids) as tracked:
        _map(conn, entries, tracked)
        rows = evidence.of_statements(conn, ids)
        tracked.after = evidence.in_force(rows)
    evidence.hand_on(conn, ids, rows)


def _map(
    conn: Connection, entries: Sequence[queue.QueueEntry], tracked: audit_counts.Tracked
) -> None:
    """What the counters' tracking read as the batch began (``tracked``) tells which prepared
    statements were voided since and, on SQLite (one writer: nothing changes but by this
    transaction), which have evidence under another mapping version to supersede (normally
    none), so neither is read again. PostgreSQL supersedes over the whole batch, as replays do:
    another transaction may have written evidence since."""
    from lrs_connector.store import evidence, mapping

    now = datetime.now(UTC)
    voided = [e.statement_id for e in entries if e.event == "voided"]
    if voided:
        evidence.retract(conn, voided, "voided", now)
    stored = list(dict.fromkeys(e.statement_id for e in entries if e.event == "stored"))
    if not stored:
        return
    active = mapping.active(conn, now)
    if active is None:
        return
    prepared = _prepared.get()
    if prepared is not None and prepared.version != active.version:
        prepared = None  # a version was published meanwhile: derive under the new one here
    documents = _documents(conn, stored, prepared, tracked)
    derived = prepared.derived if prepared is not None else None
    superseding = (tracked.under_other_versions(active.version)
                   if conn.dialect.name == "sqlite" else None)
    counts.note(
        "evidence",
        evidence.apply(conn, documents, active.mapper, active.version, now, derived=derived,
                       superseding=superseding),
    )


def _documents(
    conn: Connection, ids: list[str], prepared: Prepared | None, tracked: audit_counts.Tracked
) -> list[dict]:
    """The statements to map (neither voided nor voiding), in queue order. Bodies read before
    the write lock are used as they are (a stored statement never changes); whether one was
    voided since is what the write transaction read as it began (``tracked``)."""
    from lrs_connector.store import statements as stored_statements

    read_before = prepared.documents if prepared is not None else {}
    found = stored_statements.find(conn, [i for i in ids if i not in read_before])
    documents = []
    for statement_id in ids:
        if statement_id in read_before:
            if tracked.countable(statement_id):
                documents.append(read_before[statement_id])
            continue
        record = found.get(statement_id)
        if record is not None and not record.voided and record.voids is None:
            documents.append(record.statement)
    return documents


@dataclass
class Prepared:
    """What the head of the queue needs that can be worked out before the write lock is
    taken: the statements to map and the evidence the published mapping derives from them.

    On SQLite, writers take turns and a processing batch holds the turn from its first read to
    its commit, so intake waits for all of it. Reading and mapping the next statements in a
    read transaction first leaves the turn to the writes alone. It is only a head start: the
    batch takes whatever the queue holds when it gets its turn, checks the mapping version,
    and reads and derives anything not prepared (tested both ways).
    """

    version: int
    documents: dict[str, dict] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict)


_prepared: ContextVar[Prepared | None] = ContextVar("prepared", default=None)


def prepare(engine: Engine, limit: int) -> Prepared | None:
    """Read and map the first `limit` queued statements without taking the write lock."""
    from lrs_connector.mapping.evidence import derive
    from lrs_connector.store import mapping
    from lrs_connector.store import statements as stored_statements

    with database.read(engine) as conn:
        ids = [e.statement_id for e in queue.peek(conn, limit) if e.event == "stored"]
        version = mapping.published_version(conn) if ids else None
        if version is None:
            return None
        mapper = mapping.mapper(conn, version)
        found = stored_statements.find(conn, list(dict.fromkeys(ids)))
    prepared = Prepared(version)
    for statement_id, record in found.items():
        if not record.voided and record.voids is None:
            prepared.documents[statement_id] = record.statement
            prepared.derived[statement_id] = derive(record.statement, mapper, version)
    return prepared


def configure_handlers(settings: Settings) -> None:
    """Give the handlers the scoring model and badge issuer of ``settings``. Every process that
    processes, scores or issues badges calls it once its settings are loaded (the app, the CLI,
    serve's processing process): on their own the stores read the environment alone, not a
    configuration file nor the demo's issuer."""
    from lrs_connector.badges import config_from_settings
    from lrs_connector.readiness.model import from_settings
    from lrs_connector.store import badges as badges_store
    from lrs_connector.store import readiness as readiness_store

    readiness_store.configure(from_settings(settings))
    badges_store.configure(config_from_settings(settings))


# Readiness rescoring (docs/scoring.md) reads the evidence the mapping handler just wrote (the
# rows it hands on: nothing may write evidence between the two); badges (docs/badges.md) follow
# the levels readiness just stored; the audit counters every worker shares are written last
# (store/audit_counts.py).
HANDLERS: list[Handler] = [map_to_evidence, readiness_handler, badges_handler, audit_counts.flush]


def process_batch(engine: Engine, batch_size: int, handlers: Sequence[Handler] = ()) -> int:
    """Process one batch in one transaction; returns how many queue entries it took.

    The batch's log lines (its failure's too) carry the ids of the requests that stored its
    statements, and so do the readiness changes it puts in the outbox (logs.carrying). On
    SQLite the batch's statements are read and mapped before its write transaction (`Prepared`).
    """
    with contextlib.ExitStack() as scope:
        try:
            if database.takes_turns(engine):
                token = _prepared.set(prepare(engine, batch_size))
                scope.callback(_prepared.reset, token)
            with counts.counting(), database.write(engine) as conn:
                entries = queue.take(conn, batch_size)
                scope.enter_context(logs.carrying(e.request_id for e in entries))
                for event, taken in Counter(entry.event for entry in entries).items():
                    counts.note("processed", taken, event)
                for handler in (*HANDLERS, *handlers) if entries else ():
                    handler(conn, entries)
        except Exception:
            log.exception("processing batch failed; it stays queued and will be retried")
            raise
        if entries:
            log.info("processed a batch of %d statement(s)", len(entries))
    return len(entries)


def run(
    engine: Engine,
    *,
    batch_size: int,
    idle_seconds: float,
    stop: threading.Event,
    once: bool = False,
    on_batch: Callable[[int], None] | None = None,
    refresh_hours: float = 0.0,
) -> int:
    """Loop until `stop` is set (or the queue is empty, with `once`); returns the total taken.

    An error in a batch rolls it back (the entries stay queued), is logged, and the loop
    carries on after a pause, so one bad batch never stops the worker. With `once` the error
    is raised instead: a one-off run reports failure rather than retrying for ever.

    With `refresh_hours`, a worker whose queue ran dry takes the readiness refresh when it is
    due (every worker shares one schedule, so it runs once per period in all).
    """
    total = 0
    while not stop.is_set():
        try:
            taken = process_batch(engine, batch_size)
        except Exception:
            if once:
                raise
            stop.wait(max(idle_seconds, 1.0))
            continue
        total += taken
        if taken and on_batch:
            on_batch(taken)
        if taken < batch_size:
            if once:
                break
            if refresh_hours:
                refresh_if_due(engine, refresh_hours)
            stop.wait(idle_seconds)
    return total


def refresh_if_due(engine: Engine, hours: float) -> bool:
    """Run the readiness refresh (docs/scoring.md) when no worker has for ``hours``; True if
    this call ran it. A failure is logged and waits for the next period."""
    from lrs_connector.store import readiness, schedule

    now = datetime.now(UTC)
    try:
        if not schedule.claim(engine, "readiness-refresh", timedelta(hours=hours), now):
            return False
        outcome = readiness.refresh(engine, now=now)
    except Exception:
        log.exception("readiness refresh failed; it runs again in %s hour(s)", hours)
        return False
    log.info("readiness refresh: %d learner(s), %d role score(s) changed",
             outcome.learners, outcome.changes)
    return True


def start_embedded(settings: Settings, engine: Engine) -> threading.Event:
    """`serve`'s processor: a thread of the web process that runs the loop in a child process
    at a lower CPU priority (``processor_niceness``) and starts it again if it fails; set the
    returned event to stop both.

    A process of its own, because a loop in a web process's thread holds that process's
    interpreter lock for most of each batch, and the requests it answers wait; niced, because
    when a burst of statements keeps every core busy, answering the LRS that sends them comes
    first (the queue keeps them) and processing catches up once the burst is over. On SQLite
    one web process at a time runs the thread (the others wait their turn) and the child keeps
    the turn until it has ended, so there is one processor in all; on PostgreSQL each web
    process has one.
    """
    stop = threading.Event()
    alive = _hold_alive_lock(settings)

    def supervise() -> None:
        try:
            _supervise(settings, engine, stop, alive)
        except Exception:
            log.exception("the processing supervisor failed; this web process runs no "
                          "processor until it is started again")

    threading.Thread(target=supervise, name="lrs-processor", daemon=True).start()
    return stop


def _supervise(settings: Settings, engine: Engine, stop: threading.Event, alive: int) -> None:
    with database.sole_worker(engine, "processor") as lock:
        failures = 0  # in a row, each within a minute of its start
        niceness = min(os.getpriority(os.PRIO_PROCESS, 0) + settings.processor_niceness, 19)
        kept = (alive,) if lock is None else (alive, lock)
        while not stop.is_set():
            started = time.monotonic()
            child = _start_child(settings, niceness, kept)
            while child is not None and child.poll() is None and not stop.wait(0.5):
                pass
            if stop.is_set():
                if child is not None:
                    _stop_child(child)
                return
            if child is not None and child.returncode in _ASKED_TO_STOP:
                # A stop signal reached it (serve is stopping, or someone stopped it): keep
                # the turn, so that no other web process starts one, while this one lives.
                log.info("the processing process stopped (it was asked to)")
                stop.wait()
                return
            failures = failures + 1 if time.monotonic() - started < 60 else 1
            pause = min(2.0 ** (failures - 1), 60.0)
            log.error("the processing process ended (exit code %s); another starts in "
                      "%.0f s", None if child is None else child.returncode, pause)
            stop.wait(pause)


# How long a stopping processor may take to finish its batch.
_STOP_SECONDS = 15.0
# Exit codes of a processor that was asked to stop: it did (0), or a stop signal came before it
# was ready to take one (the signal's default action ended it).
_ASKED_TO_STOP = frozenset({0, -signal.SIGTERM, -signal.SIGINT})


def _alive_lock_path(settings: Settings) -> Path:
    return Path(settings.resolved_data_dir) / "processors.lock"


def _hold_alive_lock(settings: Settings) -> int:
    """A shared lock, held by the web process and (inherited) by every processor it starts,
    until the last of them has ended: `wait_for_embedded` waits for it."""
    path = _alive_lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd  # closed when this process ends


def wait_for_embedded(settings: Settings, seconds: float) -> bool:
    """After serve's web processes have ended: wait until the processors they started have
    finished their batches and ended too (at most ``seconds``); True if they all have."""
    path = _alive_lock_path(settings)
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.warning("a processing process was still running %.0f s after serve's "
                                "web processes stopped; serve stops without it", seconds)
                    return False
                time.sleep(0.05)
    finally:
        os.close(fd)


def _start_child(
    settings: Settings, niceness: int, kept: tuple[int, ...]
) -> subprocess.Popen | None:
    """A fresh interpreter (nothing of the web process, its connections or threads, comes
    along) running `embedded_main`. Through its standard input it gets first the web process's
    import path (-P: nothing else, not the working folder: it imports what the web process
    did), then the settings. It inherits the ``kept`` locks (that serve waits for it, and on
    SQLite the sole-worker turn), and a session of its own: a Ctrl-C meant for serve stops the
    web processes, and it stops when its own has ended."""
    try:
        child = subprocess.Popen(
            [sys.executable, "-P", "-c", _CHILD_CODE],
            stdin=subprocess.PIPE,
            pass_fds=kept,
            start_new_session=True,
        )
    except OSError:  # no process could start (memory, limits): try again later
        log.exception("could not start the processing process")
        return None
    try:
        os.setpriority(os.PRIO_PROCESS, child.pid, niceness)
    except OSError as exc:  # it ended already, or a limit forbids it: it runs as it is
        log.warning("could not lower the processing process's priority: %s", exc)
    try:
        with child.stdin:
            child.stdin.write(json.dumps(sys.path).encode() + b"\n")
            child.stdin.write(pickle.dumps((settings, os.getpid())))
    except OSError:  # it ended already: the supervisor sees its exit code
        pass
    return child


_CHILD_CODE = (
    "import json, sys; sys.path[:] = json.loads(sys.stdin.buffer.readline()); "
    "from lrs_connector import processing; processing.embedded_main()"
)


def _stop_child(child: subprocess.Popen) -> None:
    child.terminate()  # it finishes its batch first
    try:
        child.wait(_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def embedded_main() -> None:
    """Entry point of `start_embedded`'s child process (not a command for people). It exits
    with 0 when asked to stop, 1 when it failed."""
    try:
        settings, parent = pickle.load(sys.stdin.buffer)
    except (EOFError, pickle.UnpicklingError):  # the web process ended before sending them
        sys.exit(1)
    _embedded_loop(settings, parent)


def _embedded_loop(settings: Settings, parent: int) -> None:
    """Process until SIGTERM or SIGINT, or until the web process that started us has ended
    (killed, or stopped without stopping us: noticed within half a second, then the batch
    under way is finished)."""
    from lrs_connector import memory

    logs.configure(settings.log_level, settings.log_format)
    configure_handlers(settings)
    stop = threading.Event()
    # Signals are taken by a thread of their own with sigtimedwait, not by a handler: a handler
    # that set the event could interrupt the loop inside Event.set and wait on itself.
    stops = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def watch() -> None:
        while not stop.is_set():
            if signal.sigtimedwait(stops, 0.5) is not None:
                stop.set()
            elif os.getppid() != parent:
                log.info("the web process that started this processor has ended; stopping")
                stop.set()
        # Nobody may be left to end us (and on SQLite we hold the processing turn): a batch
        # that does not finish in time is given up (its transaction rolls back).
        time.sleep(_STOP_SECONDS)
        log.error("the processing batch did not finish within %.0f s of the stop; ending it",
                  _STOP_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="lrs-processor-stop", daemon=True).start()
    try:
        engine = database.create_engine(settings.resolved_database_url)
        memory.tune_for_throughput()
        try:
            run(engine, batch_size=settings.process_batch_size,
                idle_seconds=settings.process_idle_seconds, stop=stop,
                refresh_hours=settings.readiness_refresh_hours)
        finally:
            engine.dispose()
    except Exception:  # run() survives failed batches; this is anything around it
        log.exception("the processing process failed")
        sys.exit(1)
