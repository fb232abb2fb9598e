"""Migrations and table definitions agree, on whichever database the suite runs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
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
                "created_at) VALUES ('k0', 's0', 1, 'a', 'r', 1, 't', 1, 'positive', 'p', 1, "
                ":t, :t)"), {"t": now})
        newest = conn.execute(sa.text(
            "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
            "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
            "created_at) VALUES ('k9', 's9', 1, 'a', 'r', 1, 't', 1, 'positive', 'p', 1, "
            ":t, :t) RETURNING id"), {"t": now}).scalar_one()
        assert newest > max(i for _, i in found)


def _keyed_layout(engine) -> dict:
    inspector = sa.inspect(engine)
    layout = {
        "alias_key": inspector.get_pk_constraint("statement_aliases")["constrained_columns"],
        "alias_indexes": sorted(i["name"] for i in inspector.get_indexes("statement_aliases")),
        "evidence_unique": sorted(
            (u["name"], tuple(u["column_names"]))
            for u in inspector.get_unique_constraints("evidence")),
        "evidence_indexes": sorted(
            i["name"] for i in inspector.get_indexes("evidence")
            if not i["name"].startswith("uq_")),  # PostgreSQL lists a constraint's index too
    }
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            sql = conn.execute(sa.text(
                "SELECT sql FROM sqlite_master WHERE name = 'statement_aliases'")).scalar_one()
        layout["alias_rowid"] = "WITHOUT ROWID" not in sql.upper()
    return layout


def test_statement_keyed_indexes_migration_keeps_rows_and_uniqueness_and_downgrades(
    empty_engine,
):
    """0019: evidence keeps one unique (statement_id, key) index instead of a unique key and a
    statement_id index; statement_aliases is keyed alias first (WITHOUT ROWID on SQLite);
    rows are kept both ways."""
    schema.upgrade(empty_engine, "0017")
    now = "2026-11-01 10:00:00"
    evidence_rows = [
        {"key": key, "statement_id": statement, "learner_id": 1, "alias": "mbox:a",
         "rule_id": "r", "mapping_version": 1, "target": "t", "weight": 1.0,
         "polarity": "positive", "kind": "practice", "confidence": 1.0, "timestamp": now,
         "created_at": now}
        for key, statement in (("k1", "s1"), ("k2", "s1"), ("k3", "s2"))
    ]
    alias_rows = [{"statement_id": s, "alias": a}
                  for s, a in (("s1", "mbox:a"), ("s2", "mbox:a"), ("s2", "mbox:b"))]
    insert_evidence = sa.text(
        "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, mapping_version, "
        "target, weight, polarity, kind, confidence, timestamp, created_at) VALUES (:key, "
        ":statement_id, :learner_id, :alias, :rule_id, :mapping_version, :target, :weight, "
        ":polarity, :kind, :confidence, :timestamp, :created_at)")
    with empty_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO learners (id, name, created_at) VALUES (1, 'x', :t)"),
                     {"t": now})
        conn.execute(insert_evidence, evidence_rows)
        conn.execute(sa.text("INSERT INTO statement_aliases (statement_id, alias) "
                             "VALUES (:statement_id, :alias)"), alias_rows)

    def stored() -> tuple[list, list]:
        with empty_engine.connect() as conn:
            return (
                conn.execute(sa.text(
                    "SELECT id, key, statement_id FROM evidence ORDER BY id")).all(),
                conn.execute(sa.text(
                    "SELECT alias, statement_id FROM statement_aliases "
                    "ORDER BY alias, statement_id")).all(),
            )

    before = stored()
    old_layout = _keyed_layout(empty_engine)
    assert old_layout["alias_key"] == ["statement_id", "alias"]
    assert ("uq_evidence_key", ("key",)) in old_layout["evidence_unique"]

    schema.upgrade(empty_engine)
    assert stored() == before
    layout = _keyed_layout(empty_engine)
    assert layout["alias_key"] == ["alias", "statement_id"]
    assert layout["alias_indexes"] == []
    assert layout["evidence_unique"] == [("uq_evidence_statement_id_key", ("statement_id", "key"))]
    assert "ix_evidence_statement_id" not in layout["evidence_indexes"]
    assert layout.get("alias_rowid", False) is False
    with empty_engine.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError), conn.begin():
            conn.execute(insert_evidence, evidence_rows[1])
        with pytest.raises(sa.exc.IntegrityError), conn.begin():
            conn.execute(sa.text("INSERT INTO statement_aliases (statement_id, alias) "
                                 "VALUES ('s2', 'mbox:b')"))

    with empty_engine.begin() as conn:
        command.downgrade(schema._config(conn), "0019-1")
    assert stored() == before
    assert _keyed_layout(empty_engine) == old_layout
