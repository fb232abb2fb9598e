"""Fixtures in the style of Flask's tutorial: `app`, `client`, `runner`, plus credentials.

The database is SQLite unless LRS_CONNECTOR_TEST_DATABASE_URL names a PostgreSQL database; CI
runs the whole suite once each way. Every test starts from an empty, fully migrated schema.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from lrs_connector.app import create_app
from lrs_connector.settings import load_settings
from lrs_connector.store import database, schema
from lrs_connector.store.holders import SOURCES, TOKENS
from lrs_connector.store.tables import metadata

POSTGRES_URL = os.environ.get("LRS_CONNECTOR_TEST_DATABASE_URL", "")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_report_header(config):
    return (
        f"database: {'PostgreSQL ' + POSTGRES_URL.rsplit('@', 1)[-1] if POSTGRES_URL else 'SQLite'}"
    )


@pytest.fixture(scope="session")
def _template_database(tmp_path_factory) -> str:
    """Migrate once per session; tests get a copy (SQLite) or truncated tables (PostgreSQL)."""
    if POSTGRES_URL:
        engine = database.create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        schema.upgrade(engine)
        engine.dispose()
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = database.create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def database_url(_template_database, tmp_path) -> str:
    if POSTGRES_URL:
        engine = database.create_engine(POSTGRES_URL)
        names = ", ".join(t.name for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return POSTGRES_URL
    path = tmp_path / "lrs-connector.db"
    shutil.copy(_template_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url, tmp_path):
    return load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "credential_cache_seconds": 0.0,
            "log_format": "text",
            "public_base_url": "http://127.0.0.1:8080",
        },
    )


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["lrs_engine"].dispose()


@pytest.fixture
def engine(app):
    return app.extensions["lrs_engine"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app, settings, monkeypatch):
    """A CLI runner whose commands use the test database."""
    from click.testing import CliRunner

    monkeypatch.setenv("LRS_CONNECTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LRS_CONNECTOR_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("LRS_CONNECTOR_LOG_FORMAT", "text")
    return CliRunner()


def _basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def source(engine):
    """An enabled source named `lms`; returns (holder, credential)."""
    with database.write(engine) as conn:
        return SOURCES.add(conn, "lms", description="test source")


@pytest.fixture
def source_headers(source) -> dict:
    _, new = source
    return {"Authorization": _basic(new.key, new.secret), "X-Experience-API-Version": "1.0.3"}


@pytest.fixture
def auditor_headers(engine) -> dict:
    with database.write(engine) as conn:
        _, new = TOKENS.add(conn, "auditor", role="auditor")
    return {"Authorization": f"Bearer {new.bearer_token}"}


@pytest.fixture
def admin_headers(engine) -> dict:
    with database.write(engine) as conn:
        _, new = TOKENS.add(conn, "admin", role="admin")
    return {"Authorization": f"Bearer {new.bearer_token}"}


@pytest.fixture
def shared_fixtures() -> Path:
    """../shared/fixtures, read in place (never copied into the repository)."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path}")
    return path
