"""Fixtures in the style of Flask's tutorial: `app`, `client`, `runner`, plus credentials.

The database is SQLite unless LRS_CONNECTOR_TEST_DATABASE_URL names a PostgreSQL database; CI
runs the suite on both. Every test starts from an empty, fully migrated schema.

Tests that cannot tell the two databases apart are marked `db_independent`, and CI's
PostgreSQL run leaves them out (`-m "not db_independent"`); a plain `pytest` runs them all.
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

POSTGRES_URL = os.environ.get("LRS_CONNECTOR_TEST_DATABASE_URL", "")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TESTS = Path(__file__).resolve().parent

# Modules that use the database only as the connector's store while they check something else:
# a browser, nginx, the reference badge verifier. What they check does not change with the
# database engine, and each takes seconds, so one run (on SQLite) is enough.
DB_INDEPENDENT_MODULES = frozenset({
    "ui/test_browser.py",
    "ui/test_admin_browser.py",
    "ui/test_audit_browser.py",
    "badges/test_badgecheck.py",
    "integration/test_nginx.py",
})


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "db_independent: the outcome cannot depend on the database engine (no `database_url` "
        "in the test's fixtures, or a module in tests/conftest.py's DB_INDEPENDENT_MODULES)",
    )


def _db_independent(item) -> bool:
    """Listed modules, and tests that never reach the test database: no `database_url` among
    their fixtures and a module that does not read LRS_CONNECTOR_TEST_DATABASE_URL itself."""
    path = Path(str(item.fspath))
    if path.is_relative_to(TESTS) and path.relative_to(TESTS).as_posix() in DB_INDEPENDENT_MODULES:
        return True
    module = getattr(item, "module", None)
    return ("database_url" not in getattr(item, "fixturenames", ())
            and not hasattr(module, "POSTGRES_URL"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _db_independent(item):
            item.add_marker(pytest.mark.db_independent)


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


@pytest.fixture(scope="session")
def _emptying(_template_database):
    """PostgreSQL: an engine and the statements that empty every table of the migrated schema
    and restart its ids. TRUNCATE … RESTART IDENTITY does the same but takes ~0.7 s for 30
    tables, every test; DELETE on tables a test filled with a few rows takes milliseconds."""
    if not POSTGRES_URL:
        yield None
        return
    engine = database.create_engine(POSTGRES_URL)
    found = sa.MetaData()
    found.reflect(engine)
    quote = engine.dialect.identifier_preparer.quote
    statements = [sa.text(f"DELETE FROM {quote(table.name)}")
                  for table in reversed(found.sorted_tables) if table.name != "alembic_version"]
    with engine.connect() as conn:
        sequences = conn.execute(sa.text(
            "SELECT sequence_name FROM information_schema.sequences "
            "WHERE sequence_schema = current_schema()")).scalars().all()
    statements += [sa.text(f"ALTER SEQUENCE {quote(name)} RESTART") for name in sequences]
    yield engine, statements
    engine.dispose()


@pytest.fixture
def database_url(_template_database, _emptying, tmp_path) -> str:
    if POSTGRES_URL:
        engine, statements = _emptying
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
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


@pytest.fixture
def demo_loaded(engine, settings) -> list[int]:
    """The demo data, processed through readiness; its learners, most evidence first."""
    import sqlalchemy as sa

    from lrs_connector import demo, processing
    from lrs_connector.store import readiness

    demo.load(engine, settings, echo=lambda _: None)
    while processing.process_batch(engine, 500, handlers=[readiness.readiness_handler]):
        pass
    with database.read(engine) as conn:
        return conn.execute(
            sa.text("SELECT learner_id FROM evidence GROUP BY learner_id ORDER BY COUNT(*) DESC")
        ).scalars().all()
