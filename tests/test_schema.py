"""Migrations and table definitions agree, on whichever database the suite runs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lrs_connector.store import database, schema
from lrs_connector.store.tables import metadata
from tests.conftest import POSTGRES_URL


def test_migrated_schema_matches_the_table_definitions(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_database_is_at_head_and_upgrade_is_idempotent(engine):
    assert schema.is_current(engine)
    schema.upgrade(engine)
    assert schema.current_revisions(engine) == schema.head_revisions()


@pytest.fixture
def empty_engine(tmp_path):
    """An engine on an empty database (a schema of its own on PostgreSQL)."""
    if POSTGRES_URL:
        admin = database.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS migration_test CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA migration_test"))
        engine = sa.create_engine(
            POSTGRES_URL, connect_args={"options": "-csearch_path=migration_test"})
        yield engine
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA migration_test CASCADE"))
        admin.dispose()
    else:
        engine = database.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()


def test_exact_cells_migration_numbers_existing_evidence_and_keeps_keys_unique(empty_engine):
    """0012 on a database with evidence: rows get ids in storage order, keys stay unique, and
    a stored cell from before (no exact sum) is summed again on its next update."""
    for revision in ("0005", "0009"):
        schema.upgrade(empty_engine, revision)
    now = "2026-11-01 10:00:00"
    rows = [
        {"key": f"k{n}", "statement_id": f"s{n}", "learner_id": 1, "alias": "a", "rule_id": "r",
         "mapping_version": 1, "target": "t", "weight": 1.0, "polarity": "positive",
         "kind": "practice", "confidence": 1.0, "timestamp": now, "created_at": now}
        for n in range(3)
    ]
    with empty_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO learners (id, name, created_at) VALUES (1, 'x', :t)"),
                     {"t": now})
        conn.execute(sa.text(
            "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
            "mapping_version, target, weight, polarity, kind, confidence, timestamp, created_at)"
            " VALUES (:key, :statement_id, :learner_id, :alias, :rule_id, :mapping_version, "
            ":target, :weight, :polarity, :kind, :confidence, :timestamp, :created_at)"), rows)
        conn.execute(sa.text(
            "INSERT INTO readiness_cells (learner_id, target, total, scale, counted, "
            "proficiency, computed_at) VALUES (1, 't', 3.0, 0, 3, 1.0, :t)"), {"t": now})
    schema.upgrade(empty_engine)
    assert schema.is_current(empty_engine)
    with empty_engine.begin() as conn:
        found = conn.execute(sa.text("SELECT key, id FROM evidence ORDER BY id")).all()
        assert [key for key, _ in found] == ["k0", "k1", "k2"]
        assert len({i for _, i in found}) == 3 and all(i > 0 for _, i in found)
        cell = conn.execute(sa.text("SELECT exact, upto FROM readiness_cells")).one()
        assert cell == (None, None)
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(sa.text(
                "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
                "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
                "created_at) VALUES ('k0', 's', 1, 'a', 'r', 1, 't', 1, 'positive', 'p', 1, "
                ":t, :t)"), {"t": now})
        newest = conn.execute(sa.text(
            "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
            "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
            "created_at) VALUES ('k9', 's9', 1, 'a', 'r', 1, 't', 1, 'positive', 'p', 1, "
            ":t, :t) RETURNING id"), {"t": now}).scalar_one()
        assert newest > max(i for _, i in found)
