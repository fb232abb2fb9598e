"""Admin API for intake: sources and the quarantine. Reads need the auditor role, changes admin."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.intake.service import IntakeError
from lrs_connector.store import database, quarantine
from lrs_connector.store.holders import SOURCES, HolderError
from lrs_connector.web.access import require_role

bp = Blueprint("admin", __name__, url_prefix="/api/v1")


def _engine():
    return current_app.extensions["lrs_engine"]


def _json_object() -> dict:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise IntakeError(400, "malformed-json", "the body is not valid JSON")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise IntakeError(400, "invalid-body", "the body must be a JSON object")
    return body


def _int_arg(name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise IntakeError(400, "invalid-parameter", f"{name} must be an integer") from None
    if not lowest <= value <= highest:
        raise IntakeError(400, "invalid-parameter", f"{name} must be from {lowest} to {highest}")
    return value


@bp.get("/sources")
@require_role("auditor")
def list_sources():
    """Callers: auditors and admins. Sources without their secrets."""
    with database.read(_engine()) as conn:
        return jsonify({"sources": [s.as_dict() for s in SOURCES.list(conn)]})


@bp.post("/sources")
@require_role("admin")
def add_source():
    """Callers: admins. Creates a source; the secret is in this answer only."""
    body = _json_object()
    name = body.get("name")
    if not isinstance(name, str):
        raise IntakeError(400, "invalid-field", "name is required (a string)")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise IntakeError(400, "invalid-field", "description must be a string")
    try:
        with database.write(_engine()) as conn:
            source, new = SOURCES.add(conn, name, description=description)
    except HolderError as exc:
        raise IntakeError(
            409 if "exists" in str(exc) else 400, "invalid-source", str(exc)
        ) from None
    return jsonify(_with_secret(source.as_dict(), new)), 201


@bp.post("/sources/<name>/rotate")
@require_role("admin")
def rotate_source(name: str):
    """Callers: admins. A new secret; the old one stops working."""
    try:
        with database.write(_engine()) as conn:
            source, new = SOURCES.rotate(conn, name)
    except HolderError as exc:
        raise IntakeError(404, "not-found", str(exc)) from None
    return jsonify(_with_secret(source.as_dict(), new))


@bp.post("/sources/<name>/<any(enable, disable):action>")
@require_role("admin")
def toggle_source(name: str, action: str):
    """Callers: admins. Enables or disables a source."""
    try:
        with database.write(_engine()) as conn:
            source = SOURCES.set_enabled(conn, name, action == "enable")
    except HolderError as exc:
        raise IntakeError(404, "not-found", str(exc)) from None
    return jsonify(source.as_dict())


def _with_secret(out: dict, new) -> dict:
    out["secret"] = new.secret
    out["bearer_token"] = new.bearer_token
    return out


@bp.get("/quarantine")
@require_role("auditor")
def list_quarantine():
    """Callers: auditors and admins. Keyset pages: ?status=held|…|all&after=ID&limit=N."""
    status = request.args.get("status", "held")
    if status not in (*quarantine.STATUSES, "all"):
        raise IntakeError(
            400, "invalid-parameter", "status must be held, readmitted, discarded or all"
        )
    after = _int_arg("after", 0, 0, 2**62)
    limit = _int_arg("limit", 50, 1, 500)
    with database.read(_engine()) as conn:
        rows = quarantine.page(
            conn, status=None if status == "all" else status, after=after, limit=limit
        )
    items = [r.as_dict() for r in rows]
    next_after = rows[-1].id if len(rows) == limit else None
    return jsonify({"items": items, "next": next_after})


@bp.get("/quarantine/<int:held_id>")
@require_role("auditor")
def show_quarantine(held_id: int):
    """Callers: auditors and admins."""
    with database.read(_engine()) as conn:
        held = quarantine.get(conn, held_id)
    if held is None:
        raise IntakeError(404, "not-found", f"no quarantined statement {held_id}")
    return jsonify(held.as_dict())


@bp.post("/quarantine/<int:held_id>/readmit")
@require_role("admin")
def readmit(held_id: int):
    """Callers: admins. Body: {"statement": corrected copy} or {"normalisations": [names]}."""
    body = _json_object()
    settings = current_app.extensions["lrs_settings"]
    names = body.get("normalisations", list(settings.quarantine_normalisations))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise IntakeError(400, "invalid-field", "normalisations must be a list of names")
    from lrs_connector.intake.normalise import NormaliseError

    try:
        statement_id = current_app.extensions["lrs_intake"].readmit(
            held_id,
            normalisations=names,
            corrected=body.get("statement"),
            iri_base=settings.normalise_activity_iri_base,
        )
    except NormaliseError as exc:
        raise IntakeError(400, "invalid-normalisation", str(exc)) from None
    return jsonify({"id": held_id, "status": "readmitted", "statement_id": statement_id})


@bp.post("/quarantine/<int:held_id>/discard")
@require_role("admin")
def discard(held_id: int):
    """Callers: admins. Body: {"reason": "..."}."""
    reason = _json_object().get("reason", "")
    if not isinstance(reason, str):
        raise IntakeError(400, "invalid-field", "reason must be a string")
    current_app.extensions["lrs_intake"].discard(held_id, reason)
    return jsonify({"id": held_id, "status": "discarded"})
