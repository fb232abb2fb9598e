"""Learners API: ``/api/v1/learners`` (list, one learner, merge, split).

Merge: ``POST /api/v1/learners/<keep>/merge`` with ``{"learner": <away id>}``. Split:
``POST /api/v1/learners/<id>/split`` with ``{"aliases": ["mbox:…", …], "name": "…"}``.
Errors: 400/404/409 ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.learners import parse_alias
from lrs_connector.store import database, evidence
from lrs_connector.store import learners as store
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import error_response

bp = Blueprint("learners", __name__, url_prefix="/api/v1/learners")
MAX_ALIASES = 100


def _engine():
    return current_app.extensions["lrs_engine"]


def _int_arg(name: str, default: int, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


@bp.get("")
@require_role("auditor")
def listing():
    """Callers: auditors and admins. Learners by id: ?after=ID&limit=N (keyset paging)."""
    after = _int_arg("after", 0, 0, 2**62)
    limit = _int_arg("limit", 100, 1, 1000)
    if after is None or limit is None:
        return error_response(400, "bad-parameter", "after ≥ 0 and 1 ≤ limit ≤ 1000", field="limit")
    with database.read(_engine()) as conn:
        rows = store.listing(conn, after=after, limit=limit)
    return jsonify({"learners": rows, "next_after": rows[-1]["id"] if len(rows) == limit else None})


@bp.get("/<int:learner_id>")
@require_role("auditor")
def show(learner_id: int):
    """Callers: auditors and admins. One learner: aliases, evidence per target, latest rows."""
    with database.read(_engine()) as conn:
        info = store.get(conn, learner_id)
        if info is None:
            return error_response(404, "not-found", f"no learner {learner_id}")
        return jsonify(
            {
                **info.as_dict(),
                "targets": store.evidence_summary(conn, learner_id),
                "evidence": evidence.for_learner(conn, learner_id, limit=100),
            }
        )


def _body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.post("/<int:learner_id>/merge")
@require_role("admin")
def merge(learner_id: int):
    """Callers: admins. Merge the learner named in the body into this one."""
    body = _body()
    away = body.get("learner") if body else None
    if type(away) is not int:
        return error_response(
            400, "bad-request", 'give {"learner": <id to merge in>}', field="learner"
        )
    with database.write(_engine()) as conn:
        try:
            moved = store.merge(conn, learner_id, away, datetime.now(UTC))
        except store.LearnerError as exc:
            status = 404 if str(exc).startswith("no learner") else 409
            return error_response(status, "cannot-merge", str(exc), field="learner")
    return jsonify({"learner": learner_id, "merged": away, "moved": moved})


@bp.post("/<int:learner_id>/split")
@require_role("admin")
def split(learner_id: int):
    """Callers: admins. Move the given aliases and their evidence to a new learner."""
    body = _body()
    aliases = body.get("aliases") if body else None
    if (
        not isinstance(aliases, list)
        or not 1 <= len(aliases) <= MAX_ALIASES
        or not all(isinstance(a, str) and len(a) <= 1000 for a in aliases)
    ):
        return error_response(
            400, "bad-request", f"give 1 to {MAX_ALIASES} alias strings", field="aliases"
        )
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        return error_response(400, "bad-request", "name: a string of at most 200", field="name")
    try:
        keys = [parse_alias(a) for a in aliases]
    except ValueError as exc:
        return error_response(400, "bad-alias", str(exc), field="aliases")
    with database.write(_engine()) as conn:
        try:
            new_id, moved = store.split(conn, learner_id, keys, datetime.now(UTC), name)
        except store.LearnerError as exc:
            status = 404 if str(exc).startswith("no learner") else 409
            return error_response(status, "cannot-split", str(exc), field="aliases")
    return jsonify({"learner": learner_id, "new_learner": new_id, "moved": moved}), 201
