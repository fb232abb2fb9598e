"""A delivery worker killed mid-delivery loses nothing: another worker re-delivers what it held
(after its lease), and the receiver can tell repeats by the delivery header."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.store import database
from lrs_connector.store.lms_tables import deliveries
from tests.delivery.conftest import SECRET


def _worker(settings) -> subprocess.Popen:
    env = {
        **os.environ,
        "LRS_CONNECTOR_DATABASE_URL": settings.database_url,
        "LRS_CONNECTOR_DATA_DIR": settings.data_dir,
        "LRS_CONNECTOR_LMS_TARGETS": settings.lms_targets,
        "LRS_CONNECTOR_DELIVERY_LEASE_SECONDS": "10",
        "LRS_CONNECTOR_LOG_FORMAT": "text",
        "HOOK_SECRET": SECRET,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lrs_connector", "worker", "--idle", "0.2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _statuses(engine) -> dict[str, int]:
    with database.read(engine) as conn:
        rows = conn.execute(
            sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
        ).all()
    return dict(rows)


def _wait(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_killed_worker_loses_nothing_and_repeats_are_recognisable(app, engine, settings,
                                                                  receiver):
    demo.load(engine, settings, echo=lambda _: None)
    while processing.process_batch(engine, 500):
        pass
    receiver.delay = 0.5
    first = _worker(settings)
    try:
        _wait(lambda: len(receiver.received) >= 2, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert _statuses(engine).get("delivering", 0) >= 1  # the killed worker held one
    receiver.delay = 0.0
    second = _worker(settings)
    try:
        _wait(lambda: set(_statuses(engine)) == {"delivered"}, 60)
    finally:
        second.terminate()
        second.wait(10)
    with database.read(engine) as conn:
        expected = {(r.learner_id, r.role) for r in conn.execute(sa.select(deliveries))}
    events = receiver.events()
    assert {(e["learner"]["id"], e["readiness"]["role"]) for e in events} == expected
    by_header: dict[str, dict] = {}
    for got in receiver.received:
        if got.body.get("event") == "ping":
            continue
        key = got.headers["X-Lrs-Connector-Delivery"]
        assert by_header.setdefault(key, got.body) == got.body  # a repeat is the same change
    assert len(by_header) == len(expected)
    assert len(events) - len(expected) <= 1  # only what was in flight came twice
