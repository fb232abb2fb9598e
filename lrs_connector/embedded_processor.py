"""`serve`'s processor: the processing loop (lrs_connector.processing) in a child process of a
web process, at a lower CPU priority, supervised, and waited for when serve stops.

docs/deploy.md tells admins how it starts, stops and fails; processing.py is what it runs.
"""

from __future__ import annotations

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
from pathlib import Path

from sqlalchemy.engine import Engine

from lrs_connector import logs
from lrs_connector.processing import configure_handlers, run
from lrs_connector.settings import Settings
from lrs_connector.store import database

log = logging.getLogger(__name__)


def start(settings: Settings, engine: Engine) -> threading.Event:
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
STOP_SECONDS = 15.0
# Exit code of a processor that was asked to stop and gave up a batch that took longer.
_GAVE_UP = 3
# Exit codes of a processor that was asked to stop: it did (0), it gave up its batch to stop
# (_GAVE_UP), or a stop signal came before it was ready to take one (the signal's default
# action ended it).
_ASKED_TO_STOP = frozenset({0, _GAVE_UP, -signal.SIGTERM, -signal.SIGINT})


def _alive_lock_path(settings: Settings) -> Path:
    return Path(settings.resolved_data_dir) / "processors.lock"


def _hold_alive_lock(settings: Settings) -> int:
    """A shared lock, held by the web process and (inherited) by every processor it starts,
    until the last of them has ended: `wait_for` waits for it."""
    path = _alive_lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd  # closed when this process ends


def wait_for(settings: Settings, seconds: float) -> bool:
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
    along) running `main`. Through its standard input it gets first the web process's
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
    "from lrs_connector import embedded_processor; embedded_processor.main()"
)


def _stop_child(child: subprocess.Popen) -> None:
    child.terminate()  # it finishes its batch first
    try:
        child.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def main() -> None:
    """Entry point of `start`'s child process (not a command for people). It exits
    with 0 when asked to stop, _GAVE_UP when asked to stop during a batch that did not end in
    time, 1 when it failed."""
    try:
        settings, parent = pickle.load(sys.stdin.buffer)
    except (EOFError, pickle.UnpicklingError):  # the web process ended before sending them
        sys.exit(1)
    _loop(settings, parent)


def _loop(settings: Settings, parent: int) -> None:
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
        time.sleep(STOP_SECONDS)
        log.error("the processing batch did not finish within %.0f s of the stop; ending it",
                  STOP_SECONDS)
        os._exit(_GAVE_UP)

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
