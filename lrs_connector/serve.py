"""`lrs-connector serve`: the app under granian, a production HTTP server.

Granian parses HTTP in Rust and hands each request to the WSGI app in a worker process's
thread pool. On a 2-core machine gunicorn's HTTP handling in Python cost about 0.3 ms of CPU
per request, a fifth of a single-statement POST (bench/ingest.py); granian's about a seventh
of that (a bare WSGI app answered 6,700 requests/s under gunicorn, 49,000/s under granian).

Each worker process builds the app itself (after the fork, so no database connection is
shared) and, with `embedded_puller` and `embedded_dispatcher` on, also runs the LRS poller and
the LMS dispatcher in threads, and with `embedded_processor` the processing loop in a child
process at a lower CPU priority (`embedded_processor.start`), so the embedded default needs
one command; the queue's locking and the file locks beside the database keep them from doing
the same work twice. A worker that dies is started again, and with it what it runs.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from flask import Flask

from lrs_connector.settings import Settings

# Seconds a stopping worker has to finish its requests and its batch before it is killed.
GRACEFUL_SECONDS = 20
# Bytes of request line and headers read before a request is refused (431; URLs: 414).
MAX_HEAD_BYTES = 64 * 1024

# What a WSGI server itself puts in a request's environ (PEP 3333); any other key that is
# not a request header (HTTP_*) and is named like a process environment variable came from
# the process environment.
_REQUEST_KEYS = frozenset({
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE", "REMOTE_ADDR", "REMOTE_PORT", "RAW_URI", "REQUEST_URI",
})


def without_process_environment(wsgi_app, names: frozenset[str] | None = None):
    """Granian starts every request's WSGI environ from the process environment, as CGI
    servers did, so settings given as environment variables (the secret key, database
    passwords, LMS tokens) would ride along with each request. Drop them before the app
    sees the request."""
    hidden = frozenset(
        name for name in (os.environ if names is None else names)
        if name not in _REQUEST_KEYS and not name.startswith(("HTTP_", "wsgi."))
    )

    def app(environ, start_response):
        for name in hidden:
            environ.pop(name, None)
        return wsgi_app(environ, start_response)

    return app


def load_worker(settings: Settings) -> Flask:
    """Build the app in a web process and start what runs beside it (granian calls this in
    each worker after the fork)."""
    from lrs_connector import memory
    from lrs_connector.app import create_app
    from lrs_connector.store import database

    app = create_app(settings)
    app.wsgi_app = without_process_environment(app.wsgi_app)
    engine = app.extensions["lrs_engine"]
    memory.tune_for_throughput()  # the app is loaded; what it holds lives as long as we do
    database.checkpoint_in_background(engine)
    if settings.embedded_processor:
        from lrs_connector import embedded_processor

        embedded_processor.start(settings, engine)
    if settings.embedded_puller:
        from lrs_connector.intake import pull

        pull.start_thread(engine, settings)
    if settings.embedded_dispatcher:
        from lrs_connector.lms.delivery import Dispatcher, Policy, start_thread
        from lrs_connector.lms.links import links_for

        start_thread(Dispatcher(engine, app.extensions["lrs_targets"],
                                Policy.from_settings(settings), links=links_for(settings)))
    return app


def prepare_metrics_folder(settings: Settings) -> None:
    """Web processes share counters through files in one folder, emptied at each start.
    Must run before anything imports prometheus_client in this process. Two `serve`s started
    at once on one data_dir must not fail here (one would find the folder the other made);
    they would share counters, so give each its own data_dir (docs/deploy.md)."""
    folder = Path(settings.resolved_data_dir) / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _log_config() -> dict:
    """Granian's own messages (start, stop, worker restarts) go through the root logger, so
    they share the service's format; no access log (learner page paths carry link tokens)."""
    return {"loggers": {"_granian": {"handlers": [], "propagate": True},
                        "granian.access": {"handlers": [], "propagate": False}}}


def _stop_signals_end_starting_workers() -> None:
    """A worker is forked with the parent's signal handlers, which would swallow a stop
    signal that comes before granian installs the worker's own (while the app loads), and the
    worker would serve on until killed. So the stop signals are held back across the fork and
    the new worker takes them with the default action: a stop during its start simply ends
    it (it has no request yet; a batch its threads began is rolled back)."""
    stops = {signal.SIGTERM, signal.SIGINT}

    def in_child() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)

    os.register_at_fork(
        before=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, stops),
        after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, stops),
        after_in_child=in_child,
    )


class MainLoopWakeUp:
    """What granian's main process waits on between events (a stop signal, a worker's end).

    Granian uses a threading.Event, set by its SIGTERM/SIGINT handler. A Python signal
    handler runs in the main thread, between two steps of whatever it was doing; when that
    was entering Event.wait (which holds the Event's lock for a moment before it sleeps), the
    handler's Event.set waits for that lock, held by the thread it interrupted, and serve
    hangs for ever with its web processes serving on. This one takes no lock: a flag, and a
    byte down a pipe that the waiting thread watches, so it still wakes at once (a web
    process that sees the stop signal itself must not end before serve has stopped it, or
    serve reports that web process's end as a failure and exits with 1).

    ``stopping`` says whether a stop signal has come: granian clears the wake-up after it
    has looked whether one came and before it starts a web process again, so a stop landing
    between the two would be cleared away and serve would wait for ever; a stop keeps it set.
    """

    def __init__(self, stopping: Callable[[], bool] = lambda: False) -> None:
        self._set = False
        self._stopping = stopping
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def set(self) -> None:
        self._set = True
        with contextlib.suppress(BlockingIOError):  # the pipe is full: it is awake anyway
            os.write(self._write, b"!")

    def clear(self) -> None:
        self._set = False
        self._drain()

    def is_set(self) -> bool:
        return self._set or self._stopping()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            select.select([self._read], [], [], remaining)
            self._drain()  # a byte whose flag was cleared since: wait on
        return True

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass


def run(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop gracefully)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(
        "lrs_connector.app:create_app",  # a name for granian's messages: load_worker builds it
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES),
        workers=settings.web_workers,
        blocking_threads=settings.web_threads,
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_SECONDS,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=_log_config(),
        log_access=False,
    )
    if not isinstance(getattr(server, "main_loop_interrupt", None), threading.Event):
        raise RuntimeError("this granian has no main_loop_interrupt Event for serve to replace "
                           "(see MainLoopWakeUp): check serve against its new version")
    server.main_loop_interrupt = MainLoopWakeUp(stopping=lambda: server.interrupt_signal)
    _stop_signals_end_starting_workers()
    server.serve(target_loader=partial(load_worker, settings), wrap_loader=False)
    if settings.embedded_processor:
        from lrs_connector import embedded_processor

        embedded_processor.wait_for(settings, GRACEFUL_SECONDS)
