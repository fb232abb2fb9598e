"""The OpenAPI 3 document of the admin API (``/api/v1/openapi.json``) and its interactive
reference page (``/api/v1/docs``, Swagger UI served from package data, no CDN).

The document is generated from the app as registered: every ``/api/v1`` route whose view is
declared with :func:`lrs_connector.web.params.operation` becomes an operation, with its path,
query and body schemas, its answers, the errors it may give and who may call it (the access
decorator's ``access``: ``x-access`` and the security requirement). A view without that
declaration is left out, and tests/test_openapi.py fails naming it. To document a new
blueprint, declare each of its views with ``@operation(...)`` below the access decorator.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template_string
from werkzeug.routing import AnyConverter, IntegerConverter, Rule

from lrs_connector import __version__
from lrs_connector.web import schemas
from lrs_connector.web.access import public
from lrs_connector.web.params import Operation, operation

PREFIX = "/api/v1/"
ASSETS = Path(__file__).resolve().parents[1] / "static" / "apidocs"
#: Routes under PREFIX that are not API operations (files of the reference page).
UNDOCUMENTED = frozenset({"openapi.static"})

bp = Blueprint(
    "openapi",
    __name__,
    url_prefix="/api/v1",
    static_folder=str(ASSETS),
    static_url_path="/docs/assets",
)

_ERRORS = {
    400: "The request does not follow this operation's schema; `field` names the fault.",
    401: "No valid credentials.",
    403: "The API token's role does not allow this.",
    404: "What the request names does not exist.",
    409: "The request conflicts with the stored state.",
    413: "The body is larger than the configured maximum.",
    415: "The body is not JSON.",
    422: "The request has the documented shape, but its content is refused.",
}
#: Tags in the order the reference page shows them (operations name theirs with `tags=`).
TAGS = (
    ("sources", "LRSs and emitters that send statements, and their credentials"),
    ("pull-sources", "LRSs the connector polls: set-up, cursor, last error (no credentials)"),
    ("quarantine", "Forwarded statements held back as invalid"),
    ("frameworks", "Competency frameworks (native or 1EdTech CASE)"),
    ("learners", "Learners and their identities"),
    ("readiness", "Readiness per role, explained"),
    ("mapping", "Mapping rule versions and their audit"),
    ("profiles", "xAPI Profile templates"),
    ("outbox", "Deliveries of readiness changes to LMS targets, dead letters"),
    ("lms", "LMS targets: their state, set-up checks, unresolved learners"),
    ("reference", "This document and its reference page"),
)
_CALLERS = {
    "public": "anyone",
    "source": "sources",
    "auditor": "auditors and admins",
    "admin": "admins",
    "source or auditor": "sources, auditors and admins",
}


def _security(access: str) -> list[dict[str, list]]:
    out: list[dict[str, list]] = []
    if "source" in access:
        out += [{"sourceBasic": []}, {"sourceBearer": []}]
    if "auditor" in access or "admin" in access:
        out.append({"apiToken": []})
    return out


def _path_parameters(rule: Rule, meta: Operation) -> tuple[str, list[dict[str, Any]]]:
    """Flask's /a/<int:x> → OpenAPI's /a/{x}, with a parameter per variable (types from the
    operation's path schema, else from the converter)."""
    declared = meta.path._declared_fields if meta.path else {}
    parameters: list[dict[str, Any]] = []
    for name, converter in rule._converters.items():
        if name in declared:
            continue  # described by the path schema
        if isinstance(converter, IntegerConverter):
            schema: dict[str, Any] = {"type": "integer", "minimum": 0}
        elif isinstance(converter, AnyConverter):
            schema = {"type": "string", "enum": sorted(converter.items)}
        else:
            schema = {"type": "string"}
        parameters.append({"in": "path", "name": name, "required": True, "schema": schema})
    path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
    if meta.path is not None:
        parameters.append({"in": "path", "schema": meta.path})
    return path, parameters


def _responses(meta: Operation, access: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, answer in sorted(meta.responses.items()):
        if answer is None:  # no body
            out[str(status)] = {"description": "OK"}
        elif isinstance(answer, str):  # a media type the view answers with, e.g. text/html
            out[str(status)] = {"description": "OK", "content": {answer: {"schema": {}}}}
        else:
            out[str(status)] = {
                "description": (answer.__doc__ or "OK").strip().splitlines()[0],
                "content": {"application/json": {"schema": answer}},
            }
    errors = {400, *meta.errors}
    if access != "public":
        errors |= {401} if access.startswith("source") else {401, 403}
    if meta.body is not None or meta.raw_body:
        errors |= {413, 415}
    if meta.query is not None or meta.body is not None or meta.path is not None:
        errors.add(422)  # text no database can store (NUL), a cursor this list did not hand out
    for status in sorted(errors):
        out[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return out


def _operation(endpoint: str, view: Any) -> dict[str, Any]:
    meta: Operation = view.api
    access = getattr(view, "access", "public")
    callers = _CALLERS.get(access, access)
    op: dict[str, Any] = {
        "operationId": endpoint,
        "summary": meta.summary,
        "description": f"Callers: {callers}. {meta.description}".strip(),
        "x-access": access,
        "security": _security(access),
        "responses": _responses(meta, access),
    }
    if meta.tags:
        op["tags"] = list(meta.tags)
    if meta.query is not None:
        op["parameters"] = [{"in": "query", "schema": meta.query}]
    if meta.body is not None:
        op["requestBody"] = {
            "required": meta.body_required,
            "content": {"application/json": {"schema": meta.body}},
        }
    elif meta.raw_body:
        op["requestBody"] = {
            "required": True,
            "description": meta.raw_body,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return op


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document for the documented /api/v1 views registered on `app`."""
    spec = APISpec(
        title="lrs-connector admin API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "Sources, quarantine, frameworks, learners, mapping and readiness. Errors are "
                '`{"error": {"code", "message", "field"}}`; lists page with `limit` and '
                "`cursor` (see docs/api.md)."
            )
        },
    )
    spec.components.security_scheme(
        "apiToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`lrs-connector tokens add NAME --role auditor|admin`)"
            "; each operation's x-access says which role it needs.",
        },
    )
    spec.components.security_scheme(
        "sourceBasic",
        {"type": "http", "scheme": "basic", "description": "A source's key and secret."},
    )
    spec.components.security_scheme(
        "sourceBearer",
        {"type": "http", "scheme": "bearer", "description": "A source's key.secret."},
    )
    for name, description in TAGS:
        spec.tag({"name": name, "description": description})
    spec.components.schema("Error", schema=schemas.Error)
    for status, description in _ERRORS.items():
        spec.components.response(
            f"E{status}",
            {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        view = app.view_functions.get(rule.endpoint)
        if not rule.rule.startswith(PREFIX) or not hasattr(view, "api"):
            continue
        path, path_params = _path_parameters(rule, view.api)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation_doc = _operation(rule.endpoint, view)
            if path_params:
                operation_doc["parameters"] = [*path_params, *operation_doc.get("parameters", [])]
            paths.setdefault(path, {})[method.lower()] = operation_doc
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def undocumented_routes(app: Flask) -> list[str]:
    """/api/v1 routes the document leaves out (their views lack ``@operation``)."""
    return sorted(
        f"{sorted((rule.methods or set()) - {'HEAD', 'OPTIONS'})} {rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX)
        and rule.endpoint not in UNDOCUMENTED
        and not hasattr(app.view_functions.get(rule.endpoint), "api")
    )


def document() -> dict[str, Any]:
    """The current app's document, built once (routes do not change after start-up)."""
    cached = current_app.extensions.get("lrs_openapi")
    if cached is None:
        cached = current_app.extensions["lrs_openapi"] = build(current_app)
    return cached


@bp.get("/openapi.json")
@public
@operation(responses={200: schemas.JsonObject}, tags=("reference",))
def openapi_json() -> Response:
    """This document: OpenAPI 3 for the admin API."""
    return jsonify(document())


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lrs-connector admin API</title>
<link rel="stylesheet" href="{{ url_for('openapi.static', filename='swagger-ui.css') }}">
<link rel="icon" href="{{ url_for('openapi.static', filename='favicon-32x32.png') }}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{{ url_for('openapi.openapi_json') }}"></div>
<script src="{{ url_for('openapi.static', filename='swagger-ui-bundle.js') }}"></script>
<script src="{{ url_for('openapi.static', filename='docs.js') }}"></script>
</body>
</html>
"""


@bp.get("/docs")
@public
@operation(responses={200: "text/html"}, tags=("reference",))
def reference_page() -> Response:
    """The interactive reference page (Swagger UI) for this document."""
    response = Response(render_template_string(_PAGE), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; frame-ancestors 'none'"
    )
    return response

