"""``GET /api/v1/learners/<id>/readiness[?role=…]``: a learner's readiness, explained.

Answer 200: score and level per role (or only ``role``, given by IRI or code), each
requirement with its gap, next steps (largest weighted gaps and the activities that would give
evidence for them, from the published mapping rules), every competency and dimension with the
evidence behind it (statement ids, rule id and version, contribution), and the history of
role scores. Scored at the moment of the request; with ``evidence=N`` only the N strongest
items of each target are listed (read from the stored cells, so fast for learners with
thousands of items), ``evidence_count`` telling how many count.
Errors: 404 unknown learner, 422 unknown role, 400 bad ``history`` (JSON error shape).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from lrs_connector.readiness.model import ModelError, from_settings
from lrs_connector.readiness.report import report, role_by_reference
from lrs_connector.store import database
from lrs_connector.store import readiness as store
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import operation

bp = Blueprint("readiness", __name__, url_prefix="/api/v1/learners")


@bp.get("/<learner_id>/readiness")
@require_role("auditor")
@operation(
    path=s.ReadinessPath,
    query=s.ReadinessQuery,
    responses={200: s.Readiness},
    errors=(404, 422),
    tags=("readiness",),
)
def learner_readiness(learner_id: int, query: dict[str, Any]):
    """A learner's readiness per role, explained down to the evidence.

    Score and level per role (or only `role`, by IRI or code), requirements with their gaps,
    next steps, competencies and dimensions with their evidence, and the last `history` role
    scores.
    """
    try:
        model = from_settings(current_app.extensions["lrs_settings"])
    except ModelError as exc:
        raise ApiError(500, "invalid-configuration", str(exc)) from None
    with database.read(current_app.extensions["lrs_engine"]) as conn:
        scorer = store.scorer(conn, model)
        role = None
        if query.get("role"):
            role = role_by_reference(scorer, query["role"])
            if role is None:
                raise ApiError(
                    422,
                    "unknown-role",
                    f"no role {query['role'][:200]!r} in framework {scorer.framework.iri}; "
                    f"roles: {', '.join(r.code for r in scorer.framework.roles.values())}",
                    field="query.role",
                )
        if not store.learner_exists(conn, learner_id):
            raise ApiError(404, "not-found", f"no learner {learner_id}", field="path.learner_id")
        result = store.learner_readiness(conn, learner_id, model=model,
                                         strongest=query.get("evidence"))
        past = store.history(conn, learner_id, role, query["history"]) if query["history"] else []
        hints = store.activities(conn)
    return jsonify(
        report(scorer, result, learner_id=learner_id, role=role, activities=hints, history=past)
    )
