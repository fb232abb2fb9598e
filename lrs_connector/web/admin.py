"""Admin API for intake: sources, pull sources and the quarantine. Reads need the auditor role,
changes admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from lrs_connector.store import database, quarantine
from lrs_connector.store import pull as pull_store
from lrs_connector.store.holders import SOURCES, HolderError
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import after_cursor, cursor_page, operation

bp = Blueprint("admin", __name__, url_prefix="/api/v1")
SOURCES_TAG = ("sources",)
PULL_SOURCES_TAG = ("pull-sources",)
QUARANTINE_TAG = ("quarantine",)


def _engine():
    return current_app.extensions["lrs_engine"]


@bp.get("/sources")
@require_role("auditor")
@operation(query=s.SourcesQuery, responses={200: s.SourcePage}, tags=SOURCES_TAG)
def list_sources(query: dict[str, Any]):
    """Sources, without their secrets, by name."""
    after = after_cursor("sources", query.get("cursor"), str, "")
    with database.read(_engine()) as conn:
        rows = SOURCES.page(conn, after=after, limit=query["limit"] + 1)
    rows, links = cursor_page(rows, limit=query["limit"], kind="sources", key=lambda h: h.name)
    return jsonify({"sources": [h.as_dict() for h in rows], **links})


@bp.post("/sources")
@require_role("admin")
@operation(body=s.NewSourceBody, responses={201: s.NewSource}, errors=(409, 422), tags=SOURCES_TAG)
def add_source(body: dict[str, Any]):
    """Create a source.

    The secret (and the bearer token made from it) is in this answer only.
    """
    try:
        with database.write(_engine()) as conn:
            source, new = SOURCES.add(conn, body["name"], description=body["description"])
    except HolderError as exc:
        if "exists" in str(exc):
            raise ApiError(409, "conflict", str(exc), field="body.name") from None
        raise ApiError(422, "invalid-source", str(exc), field="body.name") from None
    return jsonify(_with_secret(source.as_dict(), new)), 201


@bp.post("/sources/<name>/rotate")
@require_role("admin")
@operation(path=s.SourcePath, responses={200: s.NewSource}, errors=(404,), tags=SOURCES_TAG)
def rotate_source(name: str):
    """Give a source a new secret; the old one stops working."""
    try:
        with database.write(_engine()) as conn:
            source, new = SOURCES.rotate(conn, name)
    except HolderError as exc:
        raise ApiError(404, "not-found", str(exc), field="path.name") from None
    return jsonify(_with_secret(source.as_dict(), new))


@bp.post("/sources/<name>/<any(enable, disable):action>")
@require_role("admin")
@operation(path=s.ToggleSourcePath, responses={200: s.Source}, errors=(404,), tags=SOURCES_TAG)
def toggle_source(name: str, action: str):
    """Enable or disable a source."""
    try:
        with database.write(_engine()) as conn:
            source = SOURCES.set_enabled(conn, name, action == "enable")
    except HolderError as exc:
        raise ApiError(404, "not-found", str(exc), field="path.name") from None
    return jsonify(source.as_dict())


def _with_secret(out: dict, new) -> dict:
    out["secret"] = new.secret
    out["bearer_token"] = new.bearer_token
    return out


@bp.get("/pull-sources")
@require_role("auditor")
@operation(query=s.PullSourcesQuery, responses={200: s.PullSourcePage}, tags=PULL_SOURCES_TAG)
def list_pull_sources(query: dict[str, Any]):
    """LRSs the connector polls, by name: cursor, last success, last error, next attempt;
    `failing=true` for the failing ones only.

    Never a credential: no username, password reference or `more` link.
    """
    after = after_cursor("pull-sources", query.get("cursor"), str, "")
    with database.read(_engine()) as conn:
        rows = pull_store.page(conn, after=after, limit=query["limit"] + 1,
                               failing=query["failing"])
    rows, links = cursor_page(rows, limit=query["limit"], kind="pull-sources",
                              key=lambda p: p.name)
    return jsonify({"pull_sources": [p.status() for p in rows], **links})


@bp.get("/pull-sources/<name>")
@require_role("auditor")
@operation(path=s.PullSourcePath, responses={200: s.PullSource}, errors=(404,),
           tags=PULL_SOURCES_TAG)
def show_pull_source(name: str):
    """One pull source: its set-up and latest outcomes, never a credential."""
    try:
        with database.read(_engine()) as conn:
            found = pull_store.get(conn, name)
    except pull_store.PullSourceError as exc:
        raise ApiError(404, "not-found", str(exc), field="path.name") from None
    return jsonify(found.status())


@bp.get("/quarantine")
@require_role("auditor")
@operation(query=s.QuarantineQuery, responses={200: s.QuarantinePage}, tags=QUARANTINE_TAG)
def list_quarantine(query: dict[str, Any]):
    """Quarantined statements in the order they arrived, by status (default held)."""
    after = after_cursor("quarantine", query.get("cursor"), int, 0, highest=2**31 - 1)
    status = None if query["status"] == "all" else query["status"]
    with database.read(_engine()) as conn:
        rows = quarantine.page(conn, status=status, after=after, limit=query["limit"] + 1)
    rows, links = cursor_page(rows, limit=query["limit"], kind="quarantine", key=lambda h: h.id)
    return jsonify({"items": [r.as_dict() for r in rows], **links})


@bp.get("/quarantine/<int:held_id>")
@require_role("auditor")
@operation(path=s.HeldPath, responses={200: s.Held}, errors=(404,), tags=QUARANTINE_TAG)
def show_quarantine(held_id: int):
    """One quarantined statement with its problems."""
    with database.read(_engine()) as conn:
        held = quarantine.get(conn, held_id)
    if held is None:
        raise ApiError(404, "not-found", f"no quarantined statement {held_id}", "path.held_id")
    return jsonify(held.as_dict())


@bp.post("/quarantine/<int:held_id>/readmit")
@require_role("admin")
@operation(
    path=s.HeldPath,
    body=s.ReadmitBody,
    body_required=False,
    responses={200: s.Readmitted},
    errors=(404, 409, 422),
    tags=QUARANTINE_TAG,
)
def readmit(held_id: int, body: dict[str, Any]):
    """Store a quarantined statement after a fix.

    Either a corrected copy (`statement`) or normalisations applied to the held body
    (`normalisations`, default: the configured ones). 422 when it is still invalid.
    """
    from lrs_connector.intake.normalise import NormaliseError

    settings = current_app.extensions["lrs_settings"]
    names = body.get("normalisations", list(settings.quarantine_normalisations))
    try:
        statement_id = current_app.extensions["lrs_intake"].readmit(
            held_id,
            normalisations=names,
            corrected=body.get("statement"),
            iri_base=settings.normalise_activity_iri_base,
        )
    except NormaliseError as exc:
        raise ApiError(422, "invalid-normalisation", str(exc), "body.normalisations") from None
    return jsonify({"id": held_id, "status": "readmitted", "statement_id": statement_id})


@bp.post("/quarantine/<int:held_id>/discard")
@require_role("admin")
@operation(
    path=s.HeldPath,
    body=s.DiscardBody,
    body_required=False,
    responses={200: s.Discarded},
    errors=(404, 409),
    tags=QUARANTINE_TAG,
)
def discard(held_id: int, body: dict[str, Any]):
    """Discard a quarantined statement, with a reason kept for the audit."""
    current_app.extensions["lrs_intake"].discard(held_id, body["reason"])
    return jsonify({"id": held_id, "status": "discarded"})
