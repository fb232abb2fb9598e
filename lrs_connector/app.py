"""The application factory: settings → storage → services → blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from lrs_connector import logs, processing
from lrs_connector.intake.service import Intake
from lrs_connector.lms.config import targets_from_settings
from lrs_connector.settings import Settings, load_settings
from lrs_connector.store.database import create_engine
from lrs_connector.web import (
    access,
    admin,
    badges,
    errors,
    forward,
    frameworks,
    health,
    instrumentation,
    jwks,
    learners,
    mapping,
    openapi,
    outbox,
    profiles,
    readiness,
    ui,
    xapi,
)


def create_app(
    settings: Settings | None = None, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Build the WSGI app. Settings come from the environment unless given."""
    settings = settings or load_settings(overrides=overrides)
    logs.configure(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False

    processing.configure_handlers(settings)
    engine = create_engine(settings.resolved_database_url)
    app.extensions["lrs_settings"] = settings
    app.extensions["lrs_engine"] = engine
    app.extensions["lrs_credentials"] = access.CredentialCache(settings.credential_cache_seconds)
    app.extensions["lrs_intake"] = Intake.from_settings(engine, settings)
    app.extensions["lrs_targets"] = targets_from_settings(settings, engine)

    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    errors.register(app)
    instrumentation.register(app)
    for blueprint in (
        health.bp,
        xapi.bp,
        forward.bp,
        admin.bp,
        profiles.bp,
        frameworks.bp,
        learners.bp,
        mapping.bp,
        readiness.bp,
        outbox.bp,
        openapi.bp,
        jwks.bp,
        badges.bp,
        *ui.BLUEPRINTS,
    ):
        app.register_blueprint(blueprint)
    return app
