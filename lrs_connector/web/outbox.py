"""Admin API for LMS delivery: the outbox's deliveries, dead letters, targets, unresolved learners.

Reads need the auditor role; anything that changes delivery, or calls an LMS (a check), admin.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.intake.service import IntakeError
from lrs_connector.store import database, outbox
from lrs_connector.store import learners as stored_learners
from lrs_connector.web.access import require_role

bp = Blueprint("outbox", __name__, url_prefix="/api/v1")

MAX_IDS = 1000


def _engine():
    return current_app.extensions["lrs_engine"]


def _targets() -> dict:
    return current_app.extensions.get("lrs_targets", {})


def _int(name: str, raw, lowest: int, highest: int) -> int:
    if isinstance(raw, bool):
        raise IntakeError(400, "invalid-parameter", f"{name} must be an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise IntakeError(400, "invalid-parameter", f"{name} must be an integer") from None
    if not lowest <= value <= highest:
        raise IntakeError(400, "invalid-parameter", f"{name} must be from {lowest} to {highest}")
    return value


def _query(allowed: set[str]) -> dict:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise IntakeError(400, "invalid-parameter",
                          f"unknown query parameter(s): {', '.join(unknown)}")
    return request.args


def _body(allowed: set[str]) -> dict:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise IntakeError(400, "malformed-json", "the body is not valid JSON")
    body = body if body is not None else {}
    if not isinstance(body, dict):
        raise IntakeError(400, "invalid-body", "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise IntakeError(400, "invalid-field", f"unknown field(s): {', '.join(unknown)}")
    return body


def _ids(body: dict, required: bool) -> list[int]:
    ids = body.get("ids", [])
    if not isinstance(ids, list) or len(ids) > MAX_IDS:
        raise IntakeError(400, "invalid-field", f"ids must be a list of at most {MAX_IDS} ids")
    if required and not ids:
        raise IntakeError(400, "invalid-field", "ids is required")
    return [_int("ids[]", i, 1, 2**62) for i in ids]


def _target(name: str):
    target = _targets().get(name)
    if target is None:
        raise IntakeError(404, "not-found", f"no LMS target {name!r}")
    return target


@bp.get("/outbox")
@require_role("auditor")
def list_deliveries():
    """Callers: auditors and admins. Deliveries newest first; `cursor` continues a page."""
    args = _query({"status", "target", "learner", "cursor", "limit"})
    status = args.get("status")
    if status is not None and status not in outbox.STATUSES:
        raise IntakeError(400, "invalid-parameter",
                          f"status must be one of {', '.join(outbox.STATUSES)}")
    limit = _int("limit", args.get("limit", 50), 1, 500)
    after = _int("cursor", args["cursor"], 1, 2**62) if "cursor" in args else None
    learner = _int("learner", args["learner"], 1, 2**62) if "learner" in args else None
    with database.read(_engine()) as conn:
        rows = outbox.listing(conn, status=status, target=args.get("target"),
                              learner_id=learner, after=after, limit=limit)
    cursor = str(rows[-1]["id"]) if len(rows) == limit else None
    return jsonify({"deliveries": rows, "next_cursor": cursor})


@bp.get("/outbox/<int:delivery_id>")
@require_role("auditor")
def show_delivery(delivery_id: int):
    """Callers: auditors and admins."""
    with database.read(_engine()) as conn:
        row = outbox.get(conn, delivery_id)
    if row is None:
        raise IntakeError(404, "not-found", f"no delivery {delivery_id}")
    return jsonify(row)


@bp.post("/outbox/retry")
@require_role("admin")
def retry_deliveries():
    """Callers: admins. Body: {"ids": [...]} and/or {"target": ..., "status": ...}."""
    body = _body({"ids", "target", "status"})
    ids = _ids(body, required=False)
    target, status = body.get("target"), body.get("status")
    if target is not None and not isinstance(target, str):
        raise IntakeError(400, "invalid-field", "target must be a string")
    if status is not None and status not in outbox.RETRYABLE:
        raise IntakeError(400, "invalid-field",
                          f"status must be one of {', '.join(outbox.RETRYABLE)}")
    if not ids and not target and not status:
        raise IntakeError(400, "invalid-body", "give ids, or target and/or status")
    with database.write(_engine()) as conn:
        count = outbox.retry(conn, datetime.now(UTC), ids, target, status)
    return jsonify({"queued": count})


@bp.post("/outbox/discard")
@require_role("admin")
def discard_deliveries():
    """Callers: admins. Body: {"ids": [...]}; deliveries in flight are left alone."""
    ids = _ids(_body({"ids"}), required=True)
    with database.write(_engine()) as conn:
        count = outbox.discard(conn, ids, datetime.now(UTC))
    return jsonify({"discarded": count})


@bp.get("/lms/targets")
@require_role("auditor")
def list_targets():
    """Callers: auditors and admins. Targets with deliveries by status and the last delivery."""
    _query(set())
    with database.read(_engine()) as conn:
        counts = outbox.counts(conn)
        rows = [
            {"name": name, "kind": target.kind, "deliveries": counts.get(name, {}),
             "last_delivery": outbox.last_delivery(conn, name)}
            for name, target in _targets().items()
        ]
    return jsonify({"targets": rows})


@bp.post("/lms/targets/<name>/check")
@require_role("admin")
def check_target(name: str):
    """Callers: admins (it calls the LMS). The set-up findings, each with what to fix."""
    findings = [f.as_dict() for f in _target(name).check()]
    return jsonify({"target": name, "ok": all(f["ok"] for f in findings),
                    "findings": findings})


@bp.post("/lms/targets/<name>/resend")
@require_role("admin")
def resend_target(name: str):
    """Callers: admins. Queue every learner's current readiness for this target."""
    _target(name)
    with database.write(_engine()) as conn:
        count = outbox.resend_current(conn, name, datetime.now(UTC))
    return jsonify({"queued": count})


@bp.get("/lms/unresolved")
@require_role("auditor")
def list_unresolved():
    """Callers: auditors and admins. Learners a target could not match to a user."""
    args = _query({"target"})
    with database.read(_engine()) as conn:
        rows = outbox.unresolved(conn, args.get("target"))
    return jsonify({"unresolved": rows})


@bp.post("/lms/targets/<name>/links")
@require_role("admin")
def link_learner(name: str):
    """Callers: admins. Body: {"learner_id": N, "user_id": "..."}: who the learner is there."""
    _target(name)
    body = _body({"learner_id", "user_id"})
    learner_id = _int("learner_id", body.get("learner_id"), 1, 2**62)
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 255:
        raise IntakeError(400, "invalid-field", "user_id must be a non-empty string (≤ 255)")
    with database.write(_engine()) as conn:
        if stored_learners.get(conn, learner_id) is None:
            raise IntakeError(404, "not-found", f"no learner {learner_id}")
        count = outbox.link_user(conn, name, learner_id, user_id.strip(), datetime.now(UTC))
    return jsonify({"learner_id": learner_id, "user_id": user_id.strip(), "queued": count})
