"""Garbage-collector settings for the long-running processes: web workers, processing, pulling.

Intake and processing allocate many short-lived containers per statement (parsed JSON, rows,
evidence). CPython's cyclic collector runs every 700 net allocations, and every hundredth run
walks every object the process holds (the application, its schema, the framework, caches):
about 25 µs of the ~250 µs a statement costs from intake to readiness (bench/readiness.py).
Objects that live as long as the process are moved out of its reach (`gc.freeze`), and young
collections run every 20,000 allocations. Reference counting still frees acyclic garbage at
once; only reference cycles wait a little longer.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 20_000


def tune_for_throughput() -> None:
    """Call once the process has loaded what it keeps (app, engine), before its main loop."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)
