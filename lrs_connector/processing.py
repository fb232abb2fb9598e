"""The processing loop: take queued statements in batches and hand them to the handlers.

Intake only stores and queues; everything downstream (mapping to evidence, readiness, the
outbox) runs here, one transaction per batch. Until those exist the loop only marks statements
processed by taking them off the queue, so the flow exists end to end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection, Engine

from lrs_connector.store import database, queue

log = logging.getLogger(__name__)

Handler = Callable[[Connection, Sequence[queue.QueueEntry]], None]
HANDLERS: list[Handler] = []


def process_batch(engine: Engine, batch_size: int, handlers: Sequence[Handler] = ()) -> int:
    """Process one batch in one transaction; returns how many queue entries it took."""
    with database.write(engine) as conn:
        entries = queue.take(conn, batch_size)
        if entries:
            for handler in (*HANDLERS, *handlers):
                handler(conn, entries)
    return len(entries)


def run(
    engine: Engine,
    *,
    batch_size: int,
    idle_seconds: float,
    stop: threading.Event,
    once: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Loop until `stop` is set (or the queue is empty, with `once`); returns the total taken.

    An error in a batch rolls it back (the entries stay queued), is logged, and the loop
    carries on after a pause, so one bad batch never stops the worker.
    """
    total = 0
    while not stop.is_set():
        try:
            taken = process_batch(engine, batch_size)
        except Exception:
            log.exception("processing batch failed; it stays queued and will be retried")
            stop.wait(max(idle_seconds, 1.0))
            continue
        total += taken
        if taken and on_batch:
            on_batch(taken)
        if taken < batch_size:
            if once:
                break
            stop.wait(idle_seconds)
    return total


def start_thread(engine: Engine, *, batch_size: int, idle_seconds: float) -> threading.Event:
    """The embedded processor of `serve`: a daemon thread; set the returned event to stop it.

    On SQLite only one web process's thread runs at a time (the others wait their turn), so
    processing never competes with intake for the write lock more than once.
    """
    stop = threading.Event()

    def loop() -> None:
        with database.sole_worker(engine, "processor"):
            run(engine, batch_size=batch_size, idle_seconds=idle_seconds, stop=stop)

    thread = threading.Thread(target=loop, name="lrs-processor", daemon=True)
    thread.start()
    return stop
