"""Prometheus metrics: counters and histograms kept by each process, gauges read from the
database at scrape time.

`serve` runs several web processes; prometheus_client's multiprocess mode (a folder of
per-process files named by PROMETHEUS_MULTIPROC_DIR, set by `serve`) adds their counters up,
so one scrape of any process sees the whole service. Gauges that describe shared state (queue
depth, processing lag, quarantine) come from the database, the one place that knows them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.engine import Engine

from lrs_connector.store import database, outbox
from lrs_connector.store.tables import processing_queue, quarantine, statements

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

STATEMENTS = Counter(
    "lrs_statements_received_total",
    "Statements received, by source and outcome (stored, duplicate, quarantined, rejected).",
    ["source", "outcome"],
)
REFUSED = Counter(
    "lrs_requests_refused_total",
    "Requests answered with a 4xx by the connector, by error code.",
    ["code"],
)
LATENCY = Histogram(
    "lrs_http_request_duration_seconds",
    "Time to answer HTTP requests, by endpoint and status class.",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES = Counter(
    "lrs_deliveries_total",
    "Delivery attempts to LMS targets, by target and outcome "
    "(delivered, retry, unresolved, dead, discarded).",
    ["target", "outcome"],
)
DEAD_LETTERS = Counter(
    "lrs_dead_letters_total", "Deliveries given up on (dead-lettered), by target.", ["target"]
)

EVIDENCE = Counter(
    "lrs_evidence_written_total", "Evidence rows written by processing (new or reinstated)."
)
PROCESSED = Counter(
    "lrs_statements_processed_total",
    "Queue events processed, by event (stored statements, voided ones).",
    ["event"],
)
READINESS_CHANGES = Counter(
    "lrs_readiness_changes_total",
    "Role readiness changes stored (a score to one decimal or a level moved), by role code.",
    ["role"],
)
PULLED = Counter(
    "lrs_statements_pulled_total",
    "Statements pulled from LRS sources, by source and outcome (stored, duplicate, quarantined).",
    ["source", "outcome"],
)
_BY_NAME = {
    "evidence": EVIDENCE,
    "processed": PROCESSED,
    "readiness": READINESS_CHANGES,
}


def add(notes) -> None:
    """Counts noted in a committed transaction (lrs_connector.counts) onto the counters."""
    for (name, label), amount in notes.items():
        counter = _BY_NAME[name]
        (counter.labels(label) if label else counter).inc(amount)


class DatabaseGauges:
    """Shared state, read when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with database.read(self.engine) as conn:
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(processing_queue.c.enqueued_at))
            ).one()
            held = conn.execute(
                sa.select(sa.func.count())
                .select_from(quarantine)
                .where(quarantine.c.status == "held")
            ).scalar_one()
            stored = conn.execute(sa.select(sa.func.max(statements.c.seq))).scalar_one()
            outbox_depth = outbox.outbox_depth(conn)
            by_target = outbox.counts(conn)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "lrs_processing_queue_depth", "Statement events waiting for processing.", depth
        )
        yield GaugeMetricFamily(
            "lrs_processing_lag_seconds", "Age of the oldest event waiting for processing.", lag
        )
        yield GaugeMetricFamily(
            "lrs_quarantine_held", "Forwarded statements held in quarantine.", held
        )
        yield GaugeMetricFamily(
            "lrs_statements_stored", "Statements stored (highest arrival number).", stored or 0
        )
        yield GaugeMetricFamily(
            "lrs_outbox_depth", "Readiness changes not yet fanned out to targets.", outbox_depth
        )
        family = GaugeMetricFamily(
            "lrs_deliveries", "Deliveries by target and status.", labels=["target", "status"]
        )
        for target, statuses in sorted(by_target.items()):
            for status, count in sorted(statuses.items()):
                family.add_metric([target, status], count)
        yield family


def exposition(engine: Engine) -> bytes:
    """The text a scrape gets: every process's counters plus the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
        registry = CollectorRegistry()
    registry.register(DatabaseGauges(engine))
    return body + generate_latest(registry)
