"""A processing worker in its own process, for benchmarks that measure a pipeline end to end.

A deployment runs processing beside intake or pulling in another process (`lrs-connector
process`, or `serve`'s embedded processor in another web process); threads in one process
would share one interpreter lock, i.e. one core.
"""

from __future__ import annotations

import multiprocessing
import time


def _run(url: str, batch_size: int, ready, stop) -> None:
    from lrs_connector import memory, processing
    from lrs_connector.store import database

    engine = database.create_engine(url)
    memory.tune_for_throughput()  # as `lrs-connector process` does
    database.checkpoint_in_background(engine)
    ready.set()
    processing.run(engine, batch_size=batch_size, idle_seconds=0.01, stop=stop)
    engine.dispose()


class Worker:
    """`with Worker(url, 500) as worker: …; worker.drain(engine)` processes alongside the
    caller, in a fresh interpreter (spawned, so no database connection is inherited)."""

    def __init__(self, url: str, batch_size: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._ready, self._stop = spawn.Event(), spawn.Event()
        self._process = spawn.Process(
            target=_run, args=(url, batch_size, self._ready, self._stop), daemon=True
        )

    def __enter__(self) -> Worker:
        self._process.start()
        if not self._ready.wait(120):
            raise RuntimeError("the processing worker did not start")
        return self

    def drain(self, engine) -> None:
        """Return once the queue is empty (everything queued so far has been processed)."""
        from lrs_connector.store import database, queue

        while True:
            with database.read(engine) as conn:
                if queue.depth(conn) == 0:
                    return
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(60)
