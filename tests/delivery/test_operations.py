"""Delivery in /readyz, /metrics and `doctor`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.cli import main
from lrs_connector.lms.delivery import Dispatcher, Policy
from lrs_connector.store import database
from lrs_connector.store.readiness_tables import outbox


def _demo(engine, settings) -> None:
    demo.load(engine, settings, echo=lambda _: None)
    while processing.process_batch(engine, 500):
        pass


def test_readyz_reports_targets_and_fails_when_delivery_stalls(client, app, engine, settings):
    _demo(engine, settings)
    fresh = client.get("/readyz").get_json()["checks"]["delivery"]
    assert fresh["ok"] and fresh["targets"]["hr"]["kind"] == "webhook"
    with database.write(engine) as conn:  # a change nobody has picked up for an hour
        conn.execute(outbox.update().values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    stalled = client.get("/readyz")
    assert stalled.status_code == 503
    assert "is a delivery worker running" in stalled.get_json()["checks"]["delivery"]["message"]
    Dispatcher(engine, app.extensions["lrs_targets"], Policy()).drain()
    ready = client.get("/readyz").get_json()["checks"]["delivery"]
    assert ready["ok"] and ready["targets"]["hr"]["last_delivered_at"]
    assert ready["targets"]["hr"]["deliveries"]["delivered"] > 0


def test_metrics_count_deliveries_and_outbox(client, app, engine, settings, receiver):
    _demo(engine, settings)
    before = client.get("/metrics").get_data(as_text=True)
    assert "lrs_outbox_depth" in before
    receiver.answers = [(400, {})]
    Dispatcher(engine, app.extensions["lrs_targets"], Policy()).drain()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'lrs_deliveries{status="dead",target="hr"} 1.0' in text
    assert 'lrs_dead_letters_total{target="hr"}' in text
    with database.read(engine) as conn:
        delivered = conn.execute(
            sa.text("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
        ).scalar()
    assert f'lrs_deliveries{{status="delivered",target="hr"}} {float(delivered)}' in text


def test_doctor_checks_targets(runner, engine, settings, receiver):
    good = runner.invoke(main, ["doctor"])
    assert "lms hr: reachable" in good.output and "accepted a signed ping" in good.output
    receiver.answers = [(401, {})]
    bad = runner.invoke(main, ["doctor"])
    assert bad.exit_code != 0 and "answered 401 to a signed ping" in bad.output
