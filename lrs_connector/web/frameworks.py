"""``/api/v1/frameworks``: auditors read competency frameworks, admins import them.

* ``GET /api/v1/frameworks``: the bundled framework and stored ones, in import order, paged.
* ``GET /api/v1/frameworks/document?iri=…[&version=…][&format=native|case][&case_version=1.1]``:
  one framework, as its native document or as a 1EdTech CASE package. IRIs travel in the query
  string because they contain slashes.
* ``POST /api/v1/frameworks[?format=auto|case|native][&replace=true]``: the body is a CASE
  package or a native document (bounded by MAX_CONTENT_LENGTH and by the framework limits).
  201 when stored, 200 when the same document was already stored, 409 when another document
  has the same IRI and version (``replace=true`` overwrites it), 422 when the document is not a
  usable framework: ``{"error": {"code", "message", "field": "body", "item", "item_field"}}``
  names the item and its field.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.frameworks import case
from lrs_connector.frameworks.formats import read
from lrs_connector.frameworks.model import FrameworkError
from lrs_connector.store import database
from lrs_connector.store import frameworks as store
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import after_cursor, cursor_page, operation, read_json

bp = Blueprint("frameworks", __name__, url_prefix="/api/v1/frameworks")
TAGS = ("frameworks",)


def _engine():
    return current_app.extensions["lrs_engine"]


@bp.get("")
@require_role("auditor")
@operation(query=s.FrameworksQuery, responses={200: s.FrameworkPage}, tags=TAGS)
def list_frameworks(query: dict[str, Any]):
    """Competency frameworks: the bundled one, then every stored version in import order."""
    after = after_cursor("frameworks", query.get("cursor"), int, -1)
    with database.read(_engine()) as conn:
        rows = store.page(conn, after=after, limit=query["limit"] + 1)
    rows, links = cursor_page(rows, limit=query["limit"], kind="frameworks", key=lambda r: r[0])
    return jsonify({"frameworks": [entry.as_dict() for _, entry in rows], **links})


@bp.get("/document")
@require_role("auditor")
@operation(
    query=s.FrameworkDocumentQuery, responses={200: s.JsonObject}, errors=(404,), tags=TAGS
)
def get_framework(query: dict[str, Any]):
    """One framework, as its native JSON document or as a CASE package.

    Without `version`, the most recently imported version of the IRI.
    """
    iri, version = query["iri"], query.get("version")
    with database.read(_engine()) as conn:
        framework = store.get(conn, iri, version)
    if framework is None:
        suffix = f" version {version}" if version else ""
        raise ApiError(404, "not-found", f"no framework {iri}{suffix}", "query.iri")
    if query["format"] == "case":
        return jsonify(case.package_from_framework(framework, case_version=query["case_version"]))
    return jsonify(framework.as_document())


@bp.post("")
@require_role("admin")
@operation(
    query=s.FrameworkImportQuery,
    raw_body="a 1EdTech CASE package (CFPackage JSON) or a native framework document",
    responses={200: s.FrameworkImported, 201: s.FrameworkImported},
    errors=(409, 422),
    tags=TAGS,
)
def import_framework(query: dict[str, Any]):
    """Validate and store a CASE package or a native framework document.

    201 when stored, 200 when the same document was already stored, 409 when another
    document has the same IRI and version (give replace=true to overwrite it), or when it
    would become the framework in force without roles or without targets the published
    mapping rules name.
    """
    read_json(required=True)  # the one check for empty, non-JSON and malformed bodies
    try:
        framework, source = read(request.get_data(cache=True), query["format"])
    except FrameworkError as exc:
        raise ApiError(
            422, "invalid-framework", str(exc), "body", item=exc.item, item_field=exc.field
        ) from None
    try:
        with database.write(_engine()) as conn:
            entry, changed = store.save(conn, framework, source, replace=query["replace"])
    except store.FrameworkExists as exc:
        raise ApiError(409, "conflict", str(exc), field="body") from None
    except store.NotUsable as exc:
        raise ApiError(409, "framework-not-usable", str(exc), field="body") from None
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
