"""Health, readiness and metrics for load balancers, Kubernetes probes and Prometheus."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify

from lrs_connector import metrics
from lrs_connector.store import database, outbox, schema
from lrs_connector.store.tables import processing_queue
from lrs_connector.web.access import public

bp = Blueprint("health", __name__)


@functools.cache
def _head_revisions() -> frozenset[str]:
    return frozenset(schema.head_revisions())


@bp.get("/healthz")
@public
def healthz() -> Response:
    """Callers: anyone. The process is up and answering."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@public
def readyz():
    """Callers: anyone. 200 when the service can do its work, else 503 naming what is wrong:
    the database answers, its schema is current, and processing keeps up (the oldest queued
    event is younger than `ready_max_processing_lag_seconds`, which also shows workers run)."""
    settings = current_app.extensions["lrs_settings"]
    checks: dict[str, dict] = {}
    try:
        engine = current_app.extensions["lrs_engine"]
        with database.read(engine) as conn:
            conn.execute(sa.text("SELECT 1"))
            oldest = conn.execute(sa.select(sa.func.min(processing_queue.c.enqueued_at))).scalar()
        checks["database"] = {"ok": True}
        current = schema.current_revisions(engine)
        missing = sorted(_head_revisions() - current)
        checks["migrations"] = (
            {"ok": True}
            if not missing
            else {"ok": False, "message": f"run `lrs-connector db upgrade` ({', '.join(missing)})"}
        )
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        limit = settings.ready_max_processing_lag_seconds
        checks["processing"] = {"ok": lag <= limit, "lag_seconds": round(lag, 3)}
        if lag > limit:
            checks["processing"]["message"] = (
                f"the oldest queued statement waits {lag:.0f} s (limit {limit:.0f} s): "
                "is a processing worker running?"
            )
        checks["delivery"] = _delivery(engine, limit)
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = {"ok": False, "message": f"database unreachable: {type(exc).__name__}"}
    ready = all(check["ok"] for check in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), (
        200 if ready else 503
    )


def _delivery(engine, limit: float) -> dict:
    """LMS delivery keeps up (nothing due waits longer than the limit: a worker runs), with each
    target's last state for operators. A target that is down does not make the service unready:
    its deliveries wait and retry, and taking this node out of a load balancer would not help."""
    targets = current_app.extensions.get("lrs_targets", {})
    now = datetime.now(UTC)
    with database.read(engine) as conn:
        overdue = outbox.oldest_due(conn, now)
        counts = outbox.counts(conn)
        last = {name: outbox.last_delivery(conn, name) for name in targets}
    waited = (now - overdue).total_seconds() if overdue else 0.0
    check = {
        "ok": waited <= limit,
        "waiting_seconds": round(waited, 3),
        "targets": {
            name: {
                "kind": target.kind,
                "deliveries": counts.get(name, {}),
                "last_delivered_at": last[name]["delivered_at"] if last[name] else None,
            }
            for name, target in targets.items()
        },
    }
    if waited > limit:
        check["message"] = (
            f"a readiness change has waited {waited:.0f} s for delivery (limit {limit:.0f} s): "
            "is a delivery worker running (embedded_dispatcher or `lrs-connector worker`)?"
        )
    return check


@bp.get("/metrics")
@public
def prometheus() -> Response:
    """Callers: anyone who can reach it (restrict /metrics at the reverse proxy if needed).
    Prometheus text format; no personal data, only source names and counts."""
    body = metrics.exposition(current_app.extensions["lrs_engine"])
    return Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE)
