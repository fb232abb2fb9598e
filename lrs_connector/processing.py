"""The processing loop: take queued statements in batches and hand them to the handlers.

Intake only stores and queues; everything downstream (mapping to evidence, readiness, the
outbox) runs here, one transaction per batch. The first handler maps statements to evidence
under the published mapping version (docs/mapping.md); later stages add theirs to HANDLERS.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    """Give the handlers the scoring model, badge issuer and framework IRI of ``settings``.
    Every process that processes, scores or issues badges calls it once its settings are loaded
    (the app, the CLI, serve's processing process): on their own the stores read the environment
    alone, not a configuration file nor the demo's issuer."""
    from lrs_connector.badges import config_from_settings
    from lrs_connector.readiness.model import from_settings
    from lrs_connector.store import badges as badges_store
    from lrs_connector.store import frameworks as frameworks_store
    from lrs_connector.store import readiness as readiness_store

    readiness_store.configure(from_settings(settings))
    badges_store.configure(config_from_settings(settings))
    frameworks_store.configure(settings.framework_iri)


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
