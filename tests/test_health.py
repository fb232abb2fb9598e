"""Health, readiness, metrics and request ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from lrs_connector.store import database
from lrs_connector.store.tables import processing_queue
from tests.builders import statement


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"]["migrations"]["ok"]


def test_readyz_reports_a_stalled_processor(client, engine):
    with database.write(engine) as conn:
        conn.execute(
            processing_queue.insert().values(
                statement_id="x", event="stored", enqueued_at=datetime.now(UTC) - timedelta(hours=1)
            )
        )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "processing worker" in response.json["checks"]["processing"]["message"]


def test_readyz_reports_a_pending_migration(client, monkeypatch):
    from lrs_connector.store import schema
    from lrs_connector.web import health

    newer = frozenset(schema.head_revisions() | {"9999_newer"})
    monkeypatch.setattr(health, "_head_revisions", lambda: newer)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "db upgrade" in response.json["checks"]["migrations"]["message"]
    assert "9999_newer" in response.json["checks"]["migrations"]["message"]


def test_metrics_count_statements_by_source_and_outcome(client, source_headers):
    def value(text: str, name: str, labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(f"{name}{{{labels}}}"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = client.get("/metrics").get_data(as_text=True)
    client.post(
        "/xapi/statements", data=orjson.dumps([statement(), statement()]), headers=source_headers
    )
    client.post(
        "/xapi/statements", data=orjson.dumps(statement(verb={"id": "x"})), headers=source_headers
    )
    after = client.get("/metrics").get_data(as_text=True)
    stored = 'outcome="stored",source="lms"'
    rejected = 'outcome="rejected",source="lms"'
    assert (
        value(after, "lrs_statements_received_total", stored)
        - value(before, "lrs_statements_received_total", stored)
        == 2
    )
    assert (
        value(after, "lrs_statements_received_total", rejected)
        - value(before, "lrs_statements_received_total", rejected)
        == 1
    )
    assert "lrs_processing_queue_depth 2.0" in after
    assert "lrs_http_request_duration_seconds_bucket" in after


def test_request_ids_are_echoed_or_made(client):
    assert (
        client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"]
        == "abc-123"
    )
    made = client.get("/healthz", headers={"X-Request-Id": "bad id;x"}).headers["X-Request-Id"]
    assert made and made != "bad id;x" and len(made) == 32
