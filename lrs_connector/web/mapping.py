"""Mapping audit API: explain one statement, coverage of the published rules, versions.

``GET /api/v1/statements/<id>/explain[?version=N]``, ``GET /api/v1/mapping/coverage``,
``GET /api/v1/mapping/versions``, ``POST /api/v1/mapping/versions/<v>/whatif`` (auditor)
and ``POST /api/v1/mapping/versions/<v>/publish`` (admin, ``{"replay": true}`` to replay the
stored statements at once). What-if and replay read every stored statement (streamed, a page at
a time) inside the request: on a large store the CLI, with its progress, suits them better.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify

from lrs_connector.mapping import MappingError
from lrs_connector.store import database, evidence
from lrs_connector.store import mapping as store
from lrs_connector.store.mapping_audit import ExplainError, coverage, explain
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import after_cursor, cursor_page, operation

bp = Blueprint("mapping", __name__, url_prefix="/api/v1")
TAGS = ("mapping",)


def _engine():
    return current_app.extensions["lrs_engine"]


def _explain_error(exc: ExplainError) -> ApiError:
    if exc.status == 404:
        return ApiError(404, "not-found", str(exc))
    return ApiError(exc.status, "conflict", str(exc))


@bp.get("/statements/<statement_id>/explain")
@require_role("auditor")
@operation(
    path=s.StatementPath,
    query=s.ExplainQuery,
    responses={200: s.JsonObject},
    errors=(404, 409),
    tags=TAGS,
)
def explain_statement(statement_id: str, query: dict[str, Any]):
    """Every rule on one statement: matched, or the first condition that failed.

    With the statement's learners and evidence rows; under the published mapping version
    unless `version` is given.
    """
    try:
        return jsonify(explain(_engine(), statement_id, query.get("version")))
    except ExplainError as exc:
        raise _explain_error(exc) from None


@bp.get("/mapping/coverage")
@require_role("auditor")
@operation(query=s.CoverageQuery, responses={200: s.JsonObject}, errors=(409,), tags=TAGS)
def mapping_coverage(query: dict[str, Any]):
    """Coverage of the published rules.

    Unmapped verbs and activity ids with counts (the `limit` most frequent), hits per rule,
    competencies and dimensions no rule feeds.
    """
    try:
        return jsonify(coverage(_engine(), query["limit"]))
    except ExplainError as exc:
        raise _explain_error(exc) from None


@bp.get("/mapping/versions")
@require_role("auditor")
@operation(query=s.VersionsQuery, responses={200: s.VersionPage}, tags=TAGS)
def mapping_versions(query: dict[str, Any]):
    """The history of mapping versions with their status, oldest first."""
    after = after_cursor("mapping-versions", query.get("cursor"), int, 0, highest=2**31 - 1)
    with database.read(_engine()) as conn:
        rows = store.versions(conn, after=after, limit=query["limit"] + 1)
    rows, links = cursor_page(
        rows, limit=query["limit"], kind="mapping-versions", key=lambda r: r["version"]
    )
    return jsonify({"versions": rows, **links})


def _compiled(version: int):
    """The version's mapper; 404 unknown version, 409 it no longer compiles."""
    with database.read(_engine()) as conn:
        try:
            return store.mapper(conn, version)
        except store.VersionError as exc:
            raise ApiError(404, "not-found", str(exc), field="path.version") from None
        except MappingError as exc:
            raise ApiError(
                409,
                "conflict",
                f"mapping version {version} no longer compiles",
                field="path.version",
                problems=[str(p) for p in exc.problems[:50]],
            ) from None


@bp.post("/mapping/versions/<version>/whatif")
@require_role("auditor")
@operation(
    path=s.VersionPath,
    body=s.WhatIfBody,
    body_required=False,
    responses={200: s.JsonObject},
    errors=(404, 409),
    tags=TAGS,
)
def mapping_whatif(version: int, body: dict[str, Any]):
    """What a mapping version would change, without writing anything.

    Evidence the version would add, remove or change per learner and target, compared with
    the evidence in force; `limit` changes listed from `offset`.
    """
    mapper = _compiled(version)
    report = evidence.whatif(_engine(), mapper, version)
    return jsonify(report.as_dict(body["limit"], body["offset"]))


@bp.post("/mapping/versions/<version>/publish")
@require_role("admin")
@operation(
    path=s.VersionPath,
    body=s.PublishBody,
    body_required=False,
    responses={200: s.Published},
    errors=(404, 409),
    tags=TAGS,
)
def mapping_publish(version: int, body: dict[str, Any]):
    """Put a mapping version in force (the published one is retired).

    With `replay`, every stored statement is mapped again under it before the answer.
    """
    mapper = _compiled(version)  # it must still compile against today's profiles
    with database.write(_engine()) as conn:
        try:
            previous = store.publish_version(conn, version, datetime.now(UTC))
        except store.TargetsMissing as exc:
            raise ApiError(409, "conflict", str(exc), field="path.version") from None
        except store.VersionError as exc:
            raise ApiError(404, "not-found", str(exc), field="path.version") from None
    answer: dict[str, Any] = {"version": version, "status": store.PUBLISHED, "retired": previous}
    if body["replay"]:
        answer["replay"] = evidence.replay(_engine(), mapper, version)
    return jsonify(answer)
