"""The web UI: sign-in (`auth`), the learner's readiness page (`learner_page`) and the
console for auditors and admins (`console`); `security` holds what they share.
Templates are in lrs_connector/templates, the stylesheet in lrs_connector/static."""

from lrs_connector.web.ui import auth, console, learner_page

BLUEPRINTS = (auth.bp, learner_page.bp, console.bp)

__all__ = ["BLUEPRINTS", "auth", "console", "learner_page"]
