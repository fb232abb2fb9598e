"""``/api/v1/frameworks``: auditors read competency frameworks, admins import them.

* ``GET /api/v1/frameworks``: stored frameworks and the bundled one (``{"frameworks": [...]}``).
* ``GET /api/v1/frameworks/document?iri=…[&version=…][&format=native|case][&case_version=1.1]``:
  one framework, as its native document or as a 1EdTech CASE package. IRIs travel in the query
  string because they contain slashes.
* ``POST /api/v1/frameworks[?format=auto|case|native][&replace=true]``: the body is a CASE
  package or a native document (bounded by MAX_CONTENT_LENGTH and by the framework limits).
  201 when stored, 200 when the same document was already stored, 409 when another document
  has the same IRI and version (``replace=true`` overwrites it).

Faults answer ``{"error": {"code", "message", "item", "field"}}`` naming the item and field.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.frameworks import case, documents
from lrs_connector.frameworks.formats import FORMATS, read
from lrs_connector.frameworks.model import FrameworkError
from lrs_connector.store import database
from lrs_connector.store import frameworks as store
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import error_response

bp = Blueprint("frameworks", __name__, url_prefix="/api/v1/frameworks")


def _engine():
    return current_app.extensions["lrs_engine"]


@bp.get("")
@require_role("auditor")
def list_frameworks():
    """Callers: auditors and admins. Every stored framework version and the bundled one."""
    with database.read(_engine()) as conn:
        entries = store.list_frameworks(conn)
    return jsonify({"frameworks": [e.as_dict() for e in entries]})


@bp.get("/document")
@require_role("auditor")
def get_framework():
    """Callers: auditors and admins. One framework, native JSON or a CASE package."""
    iri = request.args.get("iri", "")
    version = request.args.get("version") or None
    fmt = request.args.get("format", "native")
    case_version = request.args.get("case_version", "1.1")
    if not iri or len(iri) > documents.MAX_IRI:
        return error_response(400, "invalid-parameter", "give the framework IRI", field="iri")
    if fmt not in ("native", "case"):
        return error_response(
            400, "invalid-parameter", "format must be native or case", field="format"
        )
    if case_version not in case.CASE_VERSIONS:
        return error_response(
            400, "invalid-parameter", "case_version must be 1.0 or 1.1", field="case_version"
        )
    with database.read(_engine()) as conn:
        framework = store.get(conn, iri, version)
    if framework is None:
        suffix = f" version {version}" if version else ""
        return error_response(404, "not-found", f"no framework {iri}{suffix}")
    if fmt == "case":
        return jsonify(case.package_from_framework(framework, case_version=case_version))
    return jsonify(framework.as_document())


@bp.post("")
@require_role("admin")
def import_framework():
    """Callers: admins. Validate and store a CASE package or a native framework document."""
    fmt = request.args.get("format", "auto")
    if fmt not in FORMATS:
        return error_response(
            400, "invalid-parameter", f"format must be one of {', '.join(FORMATS)}", field="format"
        )
    replace = request.args.get("replace", "false").lower()
    if replace not in ("true", "false"):
        return error_response(
            400, "invalid-parameter", "replace must be true or false", field="replace"
        )
    body = request.get_data(cache=False)
    if not body.strip():
        return error_response(400, "empty-body", "send a CASE package or a framework document")
    try:
        framework, source = read(body, fmt)
    except FrameworkError as exc:
        return error_response(400, "invalid-framework", str(exc), item=exc.item, field=exc.field)
    try:
        with database.write(_engine()) as conn:
            entry, changed = store.save(conn, framework, source, replace=replace == "true")
    except store.FrameworkExists as exc:
        return error_response(409, "conflict", str(exc), field="version")
    current_app.logger.info(
        "framework %s version %s %s", entry.iri, entry.version, "stored" if changed else "unchanged"
    )
    response = jsonify(
        {
            **entry.as_dict(),
            "changed": changed,
            "competencies": len(framework.competencies),
            "dimensions": len(framework.dimensions),
            "roles": len(framework.roles),
        }
    )
    response.status_code = 201 if changed else 200
    return response
