"""The strict xAPI Statements resource at /xapi/, for emitters, auditors and conformance tools.

The connector receives statements; it is not a full LRS. It serves the parts of the
Statements resource that storing and auditing need: POST, PUT, GET by `statementId` or
`voidedStatementId`, and GET /about. Any other query answers 400 saying so.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from flask import Blueprint, Response, current_app, g, request

from lrs_connector import metrics
from lrs_connector.intake.service import IntakeError
from lrs_connector.store import database
from lrs_connector.store import statements as store
from lrs_connector.web.access import public, require_source, require_source_or_role
from lrs_connector.web.bodies import read_json_body
from lrs_connector.xapi import validation
from lrs_connector.xapi.records import format_instant

bp = Blueprint("xapi", __name__, url_prefix="/xapi")

VERSION_HEADER = "X-Experience-API-Version"
ABOUT_VERSIONS = ["1.0.3", "2.0.0"]
SINGLE_QUERY_PARAMETERS = {"statementId", "voidedStatementId"}
ALLOWED_WITH_SINGLE = {"attachments", "format"}
FORMATS = {"exact", "ids", "canonical"}


@bp.before_request
def _require_version_header():
    if request.endpoint == "xapi.about":
        g.xapi_version = "2.0.0"
        return None
    header = request.headers.get(VERSION_HEADER)
    g.xapi_version = validation.spec_version(header)
    if g.xapi_version is None:
        g.xapi_version = "2.0.0"
        if header is None:
            raise IntakeError(400, "missing-version", f"the {VERSION_HEADER} header is required")
        raise IntakeError(
            400,
            "unsupported-version",
            f"{VERSION_HEADER} {header!r} is not supported; use 1.0.x or 2.0.0",
        )
    return None


@bp.after_request
def _set_version_header(response: Response) -> Response:
    response.headers[VERSION_HEADER] = getattr(g, "xapi_version", None) or "2.0.0"
    if request.method == "GET" and request.endpoint == "xapi.get_statement":
        # Every statement committed before this instant is visible (intake commits first).
        response.headers["X-Experience-API-Consistent-Through"] = format_instant(datetime.now(UTC))
    return response


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


@bp.get("/about")
@public
def about() -> Response:
    """Callers: anyone. The xAPI versions the connector accepts."""
    return _json({"version": ABOUT_VERSIONS, "extensions": {}})


@bp.post("/statements")
@require_source
def post_statements() -> Response:
    """Callers: sources. One statement or an array; 200 with the ids, all stored or none."""
    if request.args:
        raise IntakeError(
            400,
            "unexpected-parameter",
            f"POST /xapi/statements takes no query parameters, got {', '.join(request.args)}",
        )
    body = read_json_body()
    ids = current_app.extensions["lrs_intake"].post(g.source, body, g.xapi_version)
    metrics.STATEMENTS.labels(g.source.name, "stored").inc(len(ids))
    return _json(ids)


@bp.put("/statements")
@require_source
def put_statement() -> Response:
    """Callers: sources. One statement under `?statementId=`; 204."""
    extra = set(request.args) - {"statementId"}
    if extra:
        raise IntakeError(
            400,
            "unexpected-parameter",
            f"PUT /xapi/statements takes only statementId, got {', '.join(sorted(extra))}",
        )
    body = read_json_body()
    current_app.extensions["lrs_intake"].put(
        g.source, request.args.get("statementId"), body, g.xapi_version
    )
    metrics.STATEMENTS.labels(g.source.name, "stored").inc()
    return Response(status=204)


@bp.get("/statements")
@require_source_or_role("auditor")
def get_statement() -> Response:
    """Callers: sources and auditors. A statement by id (voided ones by voidedStatementId)."""
    args = request.args
    given = SINGLE_QUERY_PARAMETERS & set(args)
    other = set(args) - SINGLE_QUERY_PARAMETERS - ALLOWED_WITH_SINGLE
    if len(given) != 1 or other:
        raise IntakeError(
            400,
            "not-a-full-lrs",
            "lrs-connector receives statements and is not a full LRS: GET /xapi/statements "
            "answers only ?statementId= or ?voidedStatementId= (optionally with format and "
            "attachments); query your LRS for anything else",
        )
    fmt = args.get("format", "exact")
    if fmt not in FORMATS:
        raise IntakeError(400, "invalid-parameter", "format must be one of exact, ids, canonical")
    if args.get("attachments", "false") not in ("true", "false"):
        raise IntakeError(400, "invalid-parameter", "attachments must be true or false")
    wanted_voided = "voidedStatementId" in given
    statement_id = args["voidedStatementId" if wanted_voided else "statementId"]
    with database.read(current_app.extensions["lrs_engine"]) as conn:
        stored = store.get(conn, statement_id)
    if stored is None or stored.voided != wanted_voided:
        raise IntakeError(
            404, "not-found", f"no {'voided ' if wanted_voided else ''}statement {statement_id}"
        )
    statement = stored.statement
    if fmt == "ids":
        statement = ids_format(statement)
    return _json(statement)


def ids_format(statement: dict) -> dict:
    """The `ids` format: agents, groups and activities reduced to what identifies them."""

    def agent(value):
        if not isinstance(value, dict):
            return value
        out = {
            k: value[k]
            for k in ("objectType", "mbox", "mbox_sha1sum", "openid", "account")
            if k in value
        }
        if "member" in value and not any(
            k in value for k in ("mbox", "mbox_sha1sum", "openid", "account")
        ):
            out["member"] = [agent(m) for m in value["member"]]
        return out

    def reduce(node: dict) -> dict:
        node = dict(node)
        node["actor"] = agent(node.get("actor"))
        node["verb"] = {"id": node["verb"]["id"]}
        target = node.get("object", {})
        kind = target.get("objectType", "Activity")
        if kind == "Activity":
            node["object"] = {k: target[k] for k in ("objectType", "id") if k in target}
        elif kind in ("Agent", "Group"):
            node["object"] = agent(target)
        elif kind == "SubStatement":
            node["object"] = reduce(target)
        context = node.get("context")
        if isinstance(context, dict):
            context = dict(context)
            for key in ("instructor", "team"):
                if key in context:
                    context[key] = agent(context[key])
            if isinstance(context.get("contextActivities"), dict):
                context["contextActivities"] = {
                    name: [{"id": a["id"]} for a in (acts if isinstance(acts, list) else [acts])]
                    for name, acts in context["contextActivities"].items()
                }
            node["context"] = context
        if "authority" in node:
            node["authority"] = agent(node["authority"])
        return node

    return reduce(statement)
