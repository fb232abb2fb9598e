"""Mapping audit API: explain one statement, coverage of the published rules, versions.

``GET /api/v1/statements/<id>/explain[?version=N]``, ``GET /api/v1/mapping/coverage``,
``GET /api/v1/mapping/versions``, ``POST /api/v1/mapping/versions/<v>/whatif`` (auditor)
and ``POST /api/v1/mapping/versions/<v>/publish`` (admin, ``{"replay": true}`` to replay the
stored statements at once). What-if and replay read every stored statement (streamed, a page at
a time) inside the request: on a large store the CLI, with its progress, suits them better.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.mapping import MappingError
from lrs_connector.store import database, evidence
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


#: Most learner/target changes one what-if answer lists (page with ``offset``).
MAX_WHATIF_CHANGES = 1000
_MAX_OFFSET = 10_000_000


def _version_number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def _options(allowed: dict[str, type]) -> tuple[dict[str, Any], Any]:
    """The optional JSON object body: (options, None) or ({}, an error response)."""
    if not request.get_data(cache=True):
        return {}, None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {}, error_response(400, "bad-request", "the body must be a JSON object")
    for name, value in body.items():
        kind = allowed.get(name)
        if kind is None:
            known = ", ".join(sorted(allowed))
            return {}, error_response(
                400, "bad-request", f"unknown field (known: {known})", field=str(name)[:100]
            )
        if type(value) is not kind:
            return {}, error_response(400, "bad-request", f"{name}: a {kind.__name__}", field=name)
    return body, None


def _compiled(version: int):
    """The version's mapper, or an error response (unknown version, no longer compiles)."""
    with database.read(_engine()) as conn:
        try:
            return store.mapper(conn, version), None
        except store.VersionError as exc:
            return None, error_response(404, "not-found", str(exc), field="version")
        except MappingError as exc:
            problems = [str(p) for p in exc.problems[:50]]
            return None, error_response(
                409,
                "conflict",
                f"mapping version {version} no longer compiles",
                field="version",
                problems=problems,
            )


@bp.post("/mapping/versions/<version>/whatif")
@require_role("auditor")
def mapping_whatif(version: str):
    """Callers: auditors and admins. Evidence the version would add, remove or change per
    learner and target, compared with the evidence in force; nothing is written. Body
    (optional): {"limit": 1-1000 changes listed (default 100), "offset": first change}."""
    number = _version_number(version)
    if number is None:
        return error_response(400, "bad-parameter", "a version number", field="version")
    options, problem = _options({"limit": int, "offset": int})
    if problem is not None:
        return problem
    limit, offset = options.get("limit", 100), options.get("offset", 0)
    if not 1 <= limit <= MAX_WHATIF_CHANGES:
        return error_response(
            400, "bad-request", f"limit: 1 to {MAX_WHATIF_CHANGES}", field="limit"
        )
    if not 0 <= offset <= _MAX_OFFSET:
        return error_response(400, "bad-request", f"offset: 0 to {_MAX_OFFSET}", field="offset")
    mapper, problem = _compiled(number)
    if problem is not None:
        return problem
    report = evidence.whatif(_engine(), mapper, number)
    return jsonify(report.as_dict(limit, offset))


@bp.post("/mapping/versions/<version>/publish")
@require_role("admin")
def mapping_publish(version: str):
    """Callers: admins. Put the version in force (the published one is retired); with
    {"replay": true} map every stored statement again under it before answering."""
    number = _version_number(version)
    if number is None:
        return error_response(400, "bad-parameter", "a version number", field="version")
    options, problem = _options({"replay": bool})
    if problem is not None:
        return problem
    _, problem = _compiled(number)  # it must still compile against today's profiles
    if problem is not None:
        return problem
    with database.write(_engine()) as conn:
        try:
            previous = store.publish_version(conn, number, datetime.now(UTC))
        except store.VersionError as exc:
            return error_response(404, "not-found", str(exc), field="version")
    body: dict[str, Any] = {"version": number, "status": store.PUBLISHED, "retired": previous}
    if options.get("replay"):
        mapper, problem = _compiled(number)
        if problem is not None:
            return problem
        body["replay"] = evidence.replay(_engine(), mapper, number)
    return jsonify(body)
