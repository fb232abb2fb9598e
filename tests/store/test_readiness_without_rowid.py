"""Migration 0018: readiness cells and roles become WITHOUT ROWID tables on SQLite, rows kept
(and back with a downgrade); PostgreSQL is left as it was."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from lrs_connector.store import database, schema
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="a SQLite storage layout")

_CELL = {"learner_id": 7, "target": "https://example.org/t", "total": 1.5, "scale": 3,
         "counted": 2, "next_change": "2026-12-01 00:00:00.000000", "proficiency": 0.75,
         "computed_at": "2026-11-01 10:00:00.000000", "exact": "ff", "low": 2, "upto": 41,
         "model": "abcdef0123456789"}
_ROLE = {"learner_id": 7, "role": "https://example.org/r", "score": 42.5, "level": "developing",
         "computed_at": "2026-11-01 10:00:00.000000"}


def _layout(engine) -> dict[str, bool]:
    """{table: has a rowid} for the two tables."""
    with engine.connect() as conn:
        found = dict(conn.execute(sa.text(
            "SELECT name, sql FROM sqlite_master WHERE name IN "
            "('readiness_cells', 'readiness_roles')")).all())
    return {name: "WITHOUT ROWID" not in sql.upper() for name, sql in found.items()}


def _rows(engine) -> tuple[list, list]:
    with engine.connect() as conn:
        cells = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM readiness_cells"))]
        roles = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM readiness_roles"))]
    return cells, roles


def test_upgrade_rebuilds_both_tables_without_rowid_keeping_rows_and_downgrade_restores(
    tmp_path,
):
    engine = database.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        schema.upgrade(engine, "0012")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO readiness_cells (" + ", ".join(_CELL) + ") VALUES ("
                + ", ".join(f":{k}" for k in _CELL) + ")"), _CELL)
            conn.execute(sa.text(
                "INSERT INTO readiness_roles (" + ", ".join(_ROLE) + ") VALUES ("
                + ", ".join(f":{k}" for k in _ROLE) + ")"), _ROLE)
        assert _layout(engine) == {"readiness_cells": True, "readiness_roles": True}
        before = _rows(engine)

        schema.upgrade(engine)
        assert _layout(engine) == {"readiness_cells": False, "readiness_roles": False}
        assert _rows(engine) == before == ([_CELL], [_ROLE])
        with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text(
                "INSERT INTO readiness_roles (" + ", ".join(_ROLE) + ") VALUES ("
                + ", ".join(f":{k}" for k in _ROLE) + ")"), _ROLE)

        with engine.begin() as conn:
            command.downgrade(schema._config(conn), "0018-1")
        assert _layout(engine) == {"readiness_cells": True, "readiness_roles": True}
        assert _rows(engine) == before
    finally:
        engine.dispose()


def test_a_new_database_has_them_without_rowid(engine):
    assert _layout(engine) == {"readiness_cells": False, "readiness_roles": False}
