"""Migrations and table definitions agree, on whichever database the suite runs."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lrs_connector.store import schema
from lrs_connector.store.tables import metadata


def test_migrated_schema_matches_the_table_definitions(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_database_is_at_head_and_upgrade_is_idempotent(engine):
    assert schema.is_current(engine)
    schema.upgrade(engine)
    assert schema.current_revisions(engine) == schema.head_revisions()
