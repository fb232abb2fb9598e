"""Mapping audit API: explain one statement, coverage of the published rules, versions.

``GET /api/v1/statements/<id>/explain[?version=N]``, ``GET /api/v1/mapping/coverage``,
``GET /api/v1/mapping/versions``. What-if and replay run long: they are CLI commands.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.store import database
from lrs_connector.store import mapping as store
from lrs_connector.store.mapping_audit import ExplainError, coverage, explain
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import error_response

bp = Blueprint("mapping", __name__, url_prefix="/api/v1")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _engine():
    return current_app.extensions["lrs_engine"]


@bp.get("/statements/<statement_id>/explain")
@require_role("auditor")
def explain_statement(statement_id: str):
    """Callers: auditors and admins. Every rule on one statement: matched, or the first
    condition that failed; the statement's learners and evidence rows."""
    if not _UUID.match(statement_id):
        return error_response(400, "bad-parameter", "not a statement id (UUID)", field="id")
    version = request.args.get("version")
    if version is not None and (not version.isdigit() or len(version) > 9):
        return error_response(400, "bad-parameter", "version: a version number", field="version")
    try:
        return jsonify(explain(_engine(), statement_id, int(version) if version else None))
    except ExplainError as exc:
        return error_response(
            exc.status, "not-found" if exc.status == 404 else "conflict", str(exc)
        )


@bp.get("/mapping/coverage")
@require_role("auditor")
def mapping_coverage():
    """Callers: auditors and admins. Unmapped verbs and activity ids with counts, hits per
    rule, competencies and dimensions no rule feeds (?limit=N, 1-1000)."""
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return error_response(400, "bad-parameter", "limit: 1 to 1000", field="limit")
    try:
        return jsonify(coverage(_engine(), int(raw)))
    except ExplainError as exc:
        return error_response(exc.status, "conflict", str(exc))


@bp.get("/mapping/versions")
@require_role("auditor")
def mapping_versions():
    """Callers: auditors and admins. The history of mapping versions with their status."""
    with database.read(_engine()) as conn:
        return jsonify({"versions": store.versions(conn)})
