"""The signed-in console for auditors and admins: a landing page with the console's sections,
the learners list and each learner's readiness page. The audit and admin sections come later
(issue 7); their places in the navigation are marked.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from lrs_connector.store import database
from lrs_connector.store import learners as learner_store
from lrs_connector.web.ui import learner_page, security

bp = Blueprint("console", __name__, url_prefix="/console")
security.init_blueprint(bp)

PAGE_SIZE = 50
MAX_ID = 2**63 - 1


@bp.get("/")
@security.require_account("auditor")
def home():
    """Callers: signed-in auditors and admins. Where to go from here."""
    return render_template("console_home.html", account=security.current_account())


@bp.get("/learners")
@security.require_account("auditor")
def learners():
    """Callers: signed-in auditors and admins. Learners by id, 50 a page (keyset)."""
    raw = request.args.get("after", "0")
    after = int(raw) if raw.isdigit() and int(raw) <= MAX_ID else 0
    with database.read(current_app.extensions["lrs_engine"]) as conn:
        rows = learner_store.listing(conn, after=after, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template("console_learners.html", rows=rows, after=after,
                           next_after=rows[-1]["id"] if more else None,
                           account=security.current_account())


@bp.get("/learners/<int:learner_id>")
@security.require_account("auditor")
def learner(learner_id: int):
    """Callers: signed-in auditors and admins. A learner's readiness page."""
    if learner_id > MAX_ID:
        raise security.UIError(404, "No such learner", f"There is no learner {learner_id}.")
    page = learner_page.page_for(learner_id)
    if page is None:
        raise security.UIError(404, "No such learner", f"There is no learner {learner_id}.")
    return render_template("learner.html", page=page, audience="auditor",
                           account=security.current_account())
