"""``GET /api/v1/learners/<id>/readiness[?role=…]``: a learner's readiness, explained.

Answer 200: score and level per role (or only ``role``, given by IRI or code), each
requirement with its gap, next steps (largest weighted gaps and the activities that would give
evidence for them, from the published mapping rules), every competency and dimension with the
evidence behind it (statement ids, rule id and version, contribution), and the history of
role scores. Scored live from the learner's evidence at the moment of the request.
Errors: 404 unknown learner, 400 unknown role or bad ``history`` (JSON error shape).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from lrs_connector.readiness.model import ModelError, from_settings
from lrs_connector.readiness.report import report, role_by_reference
from lrs_connector.store import database
from lrs_connector.store import readiness as store
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import error_response

bp = Blueprint("readiness", __name__, url_prefix="/api/v1/learners")

MAX_HISTORY = 1_000
MAX_LEARNER_ID = 2**63 - 1


@bp.get("/<learner_id>/readiness")
@require_role("auditor")
def learner_readiness(learner_id: str):
    """Callers: auditors and admins. A learner's readiness per role, explained to the evidence."""
    if not learner_id.isdigit() or int(learner_id) > MAX_LEARNER_ID:
        return error_response(400, "invalid-learner", "learner id must be a positive integer",
                              field="id")
    try:
        limit = int(request.args.get("history", "200"))
    except ValueError:
        limit = -1
    if not 0 <= limit <= MAX_HISTORY:
        return error_response(400, "invalid-parameter",
                              f"history must be an integer from 0 to {MAX_HISTORY}",
                              field="history")
    try:
        model = from_settings(current_app.extensions["lrs_settings"])
    except ModelError as exc:
        return error_response(500, "invalid-configuration", str(exc))
    scorer = store.scorer(model)
    role = None
    if request.args.get("role"):
        role = role_by_reference(scorer, request.args["role"][:2048])
        if role is None:
            return error_response(
                400, "unknown-role",
                f"no role {request.args['role'][:200]!r} in framework {scorer.framework.iri}; "
                f"roles: {', '.join(r.code for r in scorer.framework.roles.values())}",
                field="role",
            )
    ident = int(learner_id)
    with database.read(current_app.extensions["lrs_engine"]) as conn:
        if not store.learner_exists(conn, ident):
            return error_response(404, "not-found", f"no learner {ident}", field="id")
        result = store.learner_readiness(conn, ident, model=model)
        past = store.history(conn, ident, role, limit) if limit else []
        hints = store.activities(conn)
    return jsonify(report(scorer, result, learner_id=ident, role=role, activities=hints,
                          history=past))
