"""The learner's readiness page, `GET /learner/<token>`: opened through a signed, expiring
link issued per learner (`learner_links.py`; `lrs-connector learners link ID`), typically
placed in the learner's LMS profile. The token is the only credential: the page sets no
cookie, sends no Referer, and may be framed only by the LMS origins in `ui_frame_ancestors`.
Auditors see the same page at /console/learners/<id> (`console.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, render_template

from lrs_connector import learner_links, secret_key
from lrs_connector.readiness.model import from_settings
from lrs_connector.readiness.report import report
from lrs_connector.store import database, learner_pages
from lrs_connector.store import readiness as readiness_store
from lrs_connector.web.access import public
from lrs_connector.web.ui import learner_view, security

bp = Blueprint("learner_page", __name__)
security.init_blueprint(bp, framed=True)

HISTORY = 200


def _secret() -> str:
    return current_app.config.get("SECRET_KEY") or secret_key.secret_key(
        current_app.extensions["lrs_settings"])


def learner_badges(conn, learner_id: int) -> list[dict[str, Any]]:
    """BADGES: the learner's current badges, each {"name", "image_url", "assertion_url"}.
    The badge stage fills this from lrs_connector.store.badges (the learner's current
    assertion URLs); until then the page shows that there are none yet."""
    return []


def page_for(learner_id: int) -> learner_view.Page | None:
    """Everything the page shows for a learner (None: unknown learner)."""
    settings = current_app.extensions["lrs_settings"]
    model = from_settings(settings)
    with database.read(current_app.extensions["lrs_engine"]) as conn:
        scorer = readiness_store.scorer(conn, model)
        found = learner_pages.learner(conn, learner_id)
        if found is None:
            return None
        # Scores come from the stored cells; only the strongest few items per target are read
        # and shown (the others are counted).
        result = readiness_store.learner_readiness(
            conn, found.id, model=model, strongest=learner_view.EVIDENCE_PER_COMPETENCY)
        counts = {target: cell.counted for target, cell in result.cells.items()}
        data = report(scorer, result, learner_id=found.id,
                      activities=readiness_store.activities(conn),
                      history=readiness_store.history(conn, found.id, None, HISTORY))
        summaries = learner_pages.summaries(conn, learner_view.evidence_ids(data))
        badges = learner_badges(conn, found.id)
    page = learner_view.build(data, learner_name=found.name, statements=summaries,
                              evidence_counts=counts)
    page.badges = badges
    return page


@bp.get("/learner/<token>")
@public
def learner(token: str):
    """Callers: whoever holds a valid link for this learner (the learner themself)."""
    try:
        link = learner_links.read(_secret(), token, datetime.now(UTC))
    except learner_links.LinkError as exc:
        if exc.reason == "expired":
            raise security.UIError(
                410, "This link has expired",
                f"{str(exc).capitalize()}. Open your readiness page again from your learning "
                "platform's profile, or ask your L&D team for a new link.",
            ) from None
        raise security.UIError(
            403, "This link is not valid",
            f"{str(exc).capitalize()}. Check that the whole link was copied, or open your "
            "readiness page again from your learning platform's profile.",
        ) from None
    page = page_for(link.learner_id)
    if page is None:
        raise security.UIError(404, "No readiness page here",
                               "There is no learner for this link (any more).")
    return render_template("learner.html", page=page, audience="learner",
                           link_expires=f"{link.expires_at:%Y-%m-%d}")
