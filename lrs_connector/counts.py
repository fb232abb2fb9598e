"""Work counted inside a transaction and reported to the metrics only once it committed.

Processing handlers and readiness updates note what they wrote (`note`); the caller that owns
the transaction wraps it in `counting()`, and the notes reach the Prometheus counters when the
block ends without an error, so a rolled-back batch counts nothing. This module does not import
prometheus_client itself: `serve` must set up the metrics folder before that import happens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_NOTES: ContextVar[Counter | None] = ContextVar("lrs_connector_counts", default=None)


def note(name: str, amount: int = 1, label: str = "") -> None:
    """Count ``amount`` of ``name`` (with one label value) in the current `counting()` block;
    outside one, nothing is counted."""
    notes = _NOTES.get()
    if notes is not None and amount:
        notes[(name, label)] += amount


@contextmanager
def counting() -> Iterator[Counter]:
    notes: Counter = Counter()
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)
    from lrs_connector import metrics  # only reached when the block ended without an error

    metrics.add(notes)
