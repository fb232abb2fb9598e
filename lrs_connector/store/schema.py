"""Database schema lifecycle: upgrade to the newest migration, and tell whether one is pending."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply every pending migration (idempotent). Features add their tables on branches of
    their own, so "heads" (every branch) is the target."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(_config()).get_heads())


def is_current(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()
