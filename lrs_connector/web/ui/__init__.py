"""The web UI: sign-in (`auth`), the learner's readiness page (`learner_page`) and the
console for auditors and admins (`console`, `audit`, `admin_console`); `security` holds what
they share. Templates are in lrs_connector/templates, the stylesheet in lrs_connector/static."""

from lrs_connector.web.ui import admin_console, audit, auth, console, learner_page

BLUEPRINTS = (auth.bp, learner_page.bp, console.bp, audit.bp, admin_console.bp)

__all__ = ["BLUEPRINTS", "admin_console", "audit", "auth", "console", "learner_page"]
