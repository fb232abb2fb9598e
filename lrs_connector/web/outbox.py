"""Admin API for LMS delivery: the outbox's deliveries, dead letters, targets, unresolved learners.

Reads need the auditor role; anything that changes delivery, or calls an LMS (a check), admin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify

from lrs_connector.store import database, outbox
from lrs_connector.store import learners as stored_learners
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import after_cursor, cursor_page, operation

bp = Blueprint("outbox", __name__, url_prefix="/api/v1")
OUTBOX_TAG = ("outbox",)
LMS_TAG = ("lms",)


def _engine():
    return current_app.extensions["lrs_engine"]


def _target(name: str):
    target = current_app.extensions.get("lrs_targets", {}).get(name)
    if target is None:
        raise ApiError(404, "not-found", f"no LMS target {name!r}", "path.name")
    return target


@bp.get("/outbox")
@require_role("auditor")
@operation(query=s.OutboxQuery, responses={200: s.DeliveryPage}, tags=OUTBOX_TAG)
def list_deliveries(query: dict[str, Any]):
    """Deliveries of readiness changes to LMS targets, newest first."""
    before = after_cursor("outbox", query.get("cursor"), int, None)
    with database.read(_engine()) as conn:
        rows = outbox.listing(conn, status=query.get("status"), target=query.get("target"),
                              learner_id=query.get("learner"), after=before,
                              limit=query["limit"] + 1)
    rows, links = cursor_page(rows, limit=query["limit"], kind="outbox", key=lambda r: r["id"])
    return jsonify({"deliveries": rows, **links})


@bp.get("/outbox/<int:delivery_id>")
@require_role("auditor")
@operation(path=s.DeliveryPath, responses={200: s.Delivery}, errors=(404,), tags=OUTBOX_TAG)
def show_delivery(delivery_id: int):
    """One delivery: its state, attempts, last error or outcome."""
    with database.read(_engine()) as conn:
        row = outbox.get(conn, delivery_id)
    if row is None:
        raise ApiError(404, "not-found", f"no delivery {delivery_id}", "path.delivery_id")
    return jsonify(row)


@bp.post("/outbox/retry")
@require_role("admin")
@operation(body=s.RetryBody, responses={200: s.Queued}, errors=(422,), tags=OUTBOX_TAG)
def retry_deliveries(body: dict[str, Any]):
    """Send deliveries again from the first attempt (dead letters after a fix).

    Give `ids`, or `target` and/or `status` to retry every such delivery.
    """
    if not body.get("ids") and not body.get("target") and not body.get("status"):
        raise ApiError(422, "invalid-body", "give ids, or target and/or status", "body")
    with database.write(_engine()) as conn:
        count = outbox.retry(conn, datetime.now(UTC), body.get("ids", ()), body.get("target"),
                             body.get("status"))
    return jsonify({"queued": count})


@bp.post("/outbox/discard")
@require_role("admin")
@operation(body=s.DiscardDeliveriesBody, responses={200: s.DeliveriesDiscarded}, tags=OUTBOX_TAG)
def discard_deliveries(body: dict[str, Any]):
    """Stop trying to send these deliveries (kept for the record; those in flight stay)."""
    with database.write(_engine()) as conn:
        count = outbox.discard(conn, body["ids"], datetime.now(UTC))
    return jsonify({"discarded": count})


@bp.get("/lms/targets")
@require_role("auditor")
@operation(responses={200: s.LmsTargets}, tags=LMS_TAG)
def list_targets():
    """Configured LMS targets with deliveries by status and the last one delivered."""
    with database.read(_engine()) as conn:
        counts = outbox.counts(conn)
        rows = [
            {"name": name, "kind": target.kind, "deliveries": counts.get(name, {}),
             "last_delivery": outbox.last_delivery(conn, name)}
            for name, target in current_app.extensions.get("lrs_targets", {}).items()
        ]
    return jsonify({"targets": rows})


@bp.post("/lms/targets/<name>/check")
@require_role("admin")
@operation(path=s.TargetPath, responses={200: s.Checked}, errors=(404,), tags=LMS_TAG)
def check_target(name: str):
    """Check a target's credentials, permissions and fields (this calls the LMS)."""
    findings = [f.as_dict() for f in _target(name).check()]
    return jsonify({"target": name, "ok": all(f["ok"] for f in findings),
                    "findings": findings})


@bp.post("/lms/targets/<name>/resend")
@require_role("admin")
@operation(path=s.TargetPath, responses={200: s.Queued}, errors=(404,), tags=LMS_TAG)
def resend_target(name: str):
    """Queue every learner's current readiness for this target (after adding it)."""
    _target(name)
    with database.write(_engine()) as conn:
        count = outbox.resend_current(conn, name, datetime.now(UTC))
    return jsonify({"queued": count})


@bp.get("/lms/unresolved")
@require_role("auditor")
@operation(query=s.UnresolvedQuery, responses={200: s.Unresolved}, tags=LMS_TAG)
def list_unresolved(query: dict[str, Any]):
    """Learners a target could not match to one of its users, with their identifiers."""
    with database.read(_engine()) as conn:
        rows = outbox.unresolved(conn, query.get("target"))
    return jsonify({"unresolved": rows})


@bp.post("/lms/targets/<name>/links")
@require_role("admin")
@operation(path=s.TargetPath, body=s.LinkBody, responses={200: s.Linked}, errors=(404,),
           tags=LMS_TAG)
def link_learner(name: str, body: dict[str, Any]):
    """Say who a learner is at the target (its user id there); waiting deliveries go out."""
    _target(name)
    user_id = body["user_id"].strip()
    if not user_id:
        raise ApiError(400, "invalid-field", "user_id must not be blank", "body.user_id")
    with database.write(_engine()) as conn:
        if stored_learners.get(conn, body["learner_id"]) is None:
            raise ApiError(404, "not-found", f"no learner {body['learner_id']}",
                           "body.learner_id")
        count = outbox.link_user(conn, name, body["learner_id"], user_id, datetime.now(UTC))
    return jsonify({"learner_id": body["learner_id"], "user_id": user_id, "queued": count})
