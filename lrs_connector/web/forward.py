"""The lenient forwarding endpoint for LRSs: /forward/statements.

Learning Locker posts one statement (or a "full document" wrapping it), Ralph posts arrays and
puts single objects without `statementId`, and neither sends X-Experience-API-Version. All of
that is accepted on POST and PUT. Valid statements are stored, duplicates skipped, invalid ones
quarantined; the 200 answer lists which went where, so the forwarder has no reason to retry.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, g

from lrs_connector import metrics
from lrs_connector.web.access import require_source
from lrs_connector.web.bodies import read_json_body

bp = Blueprint("forward", __name__, url_prefix="/forward")


@bp.route("/statements", methods=["POST", "PUT"])
@require_source
def receive() -> Response:
    """Callers: sources. 200 with {"stored": [ids], "duplicates": [ids], "quarantined": [...]}."""
    outcome = current_app.extensions["lrs_intake"].forward(g.source, read_json_body())
    for name, items in (
        ("stored", outcome.stored),
        ("duplicate", outcome.duplicates),
        ("quarantined", outcome.quarantined),
    ):
        if items:
            metrics.STATEMENTS.labels(g.source.name, name).inc(len(items))
    if outcome.quarantined:
        current_app.logger.warning(
            "quarantined %d forwarded statement(s) from source %s",
            len(outcome.quarantined),
            g.source.name,
        )
    return Response(orjson.dumps(outcome.as_dict()), status=200, mimetype="application/json")
