"""Badge tests: settings with an issuer contact address (badges on) and low readiness levels,
so that the demo learners' few months of activity earn badges; helpers to drive processing.

The demo's actors are LMS accounts; `demo_statements` gives the same statements with each
learner's email address (`mbox`) as actor, the identity badges are issued to.
"""

from __future__ import annotations

import pytest

from lrs_connector import demo, processing
from lrs_connector.badges import config_from_settings
from lrs_connector.settings import load_settings
from lrs_connector.store import badges as badge_store
from lrs_connector.store import readiness as readiness_store

LEVELS = "not ready=0,emerging=5,developing=10,ready=20"
ISSUER_EMAIL = "badges@academy.example.org"
ISSUER_NAME = "Example Academy"


def badge_overrides(database_url: str, data_dir: str, base_url: str) -> dict:
    return {
        "database_url": database_url,
        "data_dir": data_dir,
        "credential_cache_seconds": 0.0,
        "log_format": "text",
        "public_base_url": base_url,
        "readiness_levels": LEVELS,
        "badges_issuer_email": ISSUER_EMAIL,
        "badges_issuer_name": ISSUER_NAME,
        "badges_issuer_url": "https://academy.example.org",
    }


@pytest.fixture
def settings(database_url, tmp_path):
    """The suite's settings with badges on (overrides tests/conftest.py's fixture here)."""
    return load_settings(
        environ={}, overrides=badge_overrides(database_url, str(tmp_path), "http://127.0.0.1:8080")
    )


@pytest.fixture(autouse=True)
def _badge_config(settings):
    """Give the store this test's configuration (as the app and CLI will); restore after."""
    previous_model = readiness_store._default_model
    badge_store.configure(config_from_settings(settings))
    yield
    badge_store.configure(None)
    readiness_store.configure(previous_model)


@pytest.fixture
def badge_app(app):
    return app


@pytest.fixture
def badge_env(runner, monkeypatch):
    """The CLI runner with the badge settings in its environment."""
    monkeypatch.setenv("LRS_CONNECTOR_READINESS_LEVELS", LEVELS)
    monkeypatch.setenv("LRS_CONNECTOR_BADGES_ISSUER_EMAIL", ISSUER_EMAIL)
    monkeypatch.setenv("LRS_CONNECTOR_BADGES_ISSUER_NAME", ISSUER_NAME)
    monkeypatch.setenv("LRS_CONNECTOR_PUBLIC_BASE_URL", "http://127.0.0.1:8080")
    return runner


def demo_statements(who: set[str] | None = None, *, email: bool = True) -> list[dict]:
    """The demo statements (of the learners in ``who``), actors by email address."""
    out = []
    for statement in demo.statements():
        account = statement["actor"]["account"]["name"]
        if who is not None and account not in who:
            continue
        if email:
            del statement["actor"]["account"]
            statement["actor"]["mbox"] = "mailto:" + demo.LEARNERS[account][1]
        out.append(statement)
    return out


def process(engine) -> None:
    """Run processing until the queue is empty, with the badge handler after readiness."""
    while processing.process_batch(engine, 500, handlers=[badge_store.badges_handler]):
        pass
