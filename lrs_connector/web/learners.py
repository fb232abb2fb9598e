"""Learners API: ``/api/v1/learners`` (list, one learner, merge, split).

Merge: ``POST /api/v1/learners/<keep>/merge`` with ``{"learner": <away id>}``. Split:
``POST /api/v1/learners/<id>/split`` with ``{"aliases": ["mbox:…", …], "name": "…"}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify

from lrs_connector.learners import parse_alias
from lrs_connector.store import database, evidence
from lrs_connector.store import learners as store
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import after_cursor, cursor_page, operation

bp = Blueprint("learners", __name__, url_prefix="/api/v1/learners")
TAGS = ("learners",)


def _engine():
    return current_app.extensions["lrs_engine"]


@bp.get("")
@require_role("auditor")
@operation(query=s.LearnersQuery, responses={200: s.LearnerPage}, tags=TAGS)
def listing(query: dict[str, Any]):
    """Learners by id, with alias and active evidence counts (merged ones left out)."""
    after = after_cursor("learners", query.get("cursor"), int, 0)
    with database.read(_engine()) as conn:
        rows = store.listing(conn, after=after, limit=query["limit"] + 1)
    rows, links = cursor_page(rows, limit=query["limit"], kind="learners", key=lambda r: r["id"])
    return jsonify({"learners": rows, **links})


@bp.get("/<int:learner_id>")
@require_role("auditor")
@operation(path=s.LearnerPath, responses={200: s.Learner}, errors=(404,), tags=TAGS)
def show(learner_id: int):
    """One learner: aliases, evidence per target and the latest evidence rows."""
    with database.read(_engine()) as conn:
        info = store.get(conn, learner_id)
        if info is None:
            raise ApiError(404, "not-found", f"no learner {learner_id}", "path.learner_id")
        return jsonify(
            {
                **info.as_dict(),
                "targets": store.evidence_summary(conn, learner_id),
                "evidence": evidence.for_learner(conn, learner_id, limit=100),
            }
        )


def _learner_error(exc: store.LearnerError, code: str, field: str) -> ApiError:
    if str(exc).startswith("no learner"):
        return ApiError(404, "not-found", str(exc), field)
    return ApiError(409, code, str(exc), field)


@bp.post("/<int:learner_id>/merge")
@require_role("admin")
@operation(
    path=s.LearnerPath, body=s.MergeBody, responses={200: s.Merged}, errors=(404, 409), tags=TAGS
)
def merge(learner_id: int, body: dict[str, Any]):
    """Merge the learner named in the body into this one (aliases, evidence, readiness)."""
    with database.write(_engine()) as conn:
        try:
            moved = store.merge(conn, learner_id, body["learner"], datetime.now(UTC))
        except store.LearnerError as exc:
            raise _learner_error(exc, "cannot-merge", "body.learner") from None
    return jsonify({"learner": learner_id, "merged": body["learner"], "moved": moved})


@bp.post("/<int:learner_id>/split")
@require_role("admin")
@operation(
    path=s.LearnerPath,
    body=s.SplitBody,
    responses={201: s.Split},
    errors=(404, 409, 422),
    tags=TAGS,
)
def split(learner_id: int, body: dict[str, Any]):
    """Move the given aliases and their evidence to a new learner."""
    keys = []
    for index, alias in enumerate(body["aliases"]):
        try:
            keys.append(parse_alias(alias))
        except ValueError as exc:
            raise ApiError(422, "invalid-alias", str(exc), f"body.aliases[{index}]") from None
    with database.write(_engine()) as conn:
        try:
            new_id, moved = store.split(
                conn, learner_id, keys, datetime.now(UTC), body.get("name")
            )
        except store.LearnerError as exc:
            raise _learner_error(exc, "cannot-split", "body.aliases") from None
    return jsonify({"learner": learner_id, "new_learner": new_id, "moved": moved}), 201
