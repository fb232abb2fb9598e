"""Stored frameworks on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import dataclasses

import pytest

from lrs_connector.frameworks import case
from lrs_connector.frameworks.documents import BUNDLED_IRI, load_bundled
from lrs_connector.store import database
from lrs_connector.store import frameworks as store
from tests.frameworks.packages import DOC_ID, SERVER, third_party_package


def test_bundled_framework_is_available_without_import(engine):
    with database.read(engine) as conn:
        entries = store.list_frameworks(conn)
        assert [(e.iri, e.source, e.imported_at) for e in entries] == [
            (BUNDLED_IRI, "bundled", None)
        ]
        assert store.latest(conn, BUNDLED_IRI) == load_bundled()
        assert store.get(conn, BUNDLED_IRI, "1.0") == load_bundled()
        assert store.get(conn, BUNDLED_IRI, "9.9") is None
        assert store.get(conn, "https://unknown.example/f") is None


def test_save_get_and_idempotent_save(engine):
    framework = case.framework_from_package(third_party_package())
    with database.write(engine) as conn:
        entry, changed = store.save(conn, framework, "case")
    assert changed and entry.source == "case"
    with database.write(engine) as conn:
        again, changed = store.save(conn, framework, "case")
    assert not changed and again.imported_at == entry.imported_at
    with database.read(engine) as conn:
        assert store.get(conn, SERVER + DOC_ID, "2025.1") == framework
        listed = [(e.iri, e.version, e.source) for e in store.list_frameworks(conn)]
    assert (SERVER + DOC_ID, "2025.1", "case") in listed
    assert (BUNDLED_IRI, "1.0", "bundled") in listed


def test_changed_content_needs_a_new_version_or_replace(engine):
    framework = case.framework_from_package(third_party_package())
    renamed = dataclasses.replace(framework, name="Facilitation skills (revised)")
    with database.write(engine) as conn:
        store.save(conn, framework, "case")
    with pytest.raises(store.FrameworkExists), database.write(engine) as conn:
        store.save(conn, renamed, "case")
    with database.write(engine) as conn:
        store.save(conn, renamed, "file", replace=True)
        store.save(conn, dataclasses.replace(framework, version="2026.1"), "case")
    with database.read(engine) as conn:
        assert store.get(conn, SERVER + DOC_ID, "2025.1").name.endswith("(revised)")
        assert store.latest(conn, SERVER + DOC_ID).version == "2026.1"


def test_an_imported_bundled_version_takes_its_place(engine):
    bundled = load_bundled()
    edited = dataclasses.replace(bundled, description="Our organisation's edition.")
    with database.write(engine) as conn:
        store.save(conn, edited, "file")
    with database.read(engine) as conn:
        entries = store.list_frameworks(conn)
        assert [(e.iri, e.source) for e in entries] == [(BUNDLED_IRI, "file")]
        assert store.latest(conn, BUNDLED_IRI).description == "Our organisation's edition."
