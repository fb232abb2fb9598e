"""The forwarding endpoint as real LRSs use it, and the quarantine behind it."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector.store import database, queue
from lrs_connector.store import statements as store
from lrs_connector.store.tables import statements
from tests.builders import statement


@pytest.fixture
def basic_only(source_headers) -> dict:
    """What Ralph and Learning Locker send: credentials, no xAPI version header."""
    return {"Authorization": source_headers["Authorization"], "Content-Type": "application/json"}


def forward(client, headers, body, method="post"):
    return getattr(client, method)("/forward/statements", data=orjson.dumps(body), headers=headers)


def ralph_style(s: dict) -> dict:
    """Ralph forwards what it stored: id, stored, timestamp and authority already set."""
    return dict(
        s,
        stored="2026-11-20T10:00:01.123456+00:00",
        authority={"objectType": "Agent", "mbox": "mailto:ralph@example.org"},
    )


def test_ralph_posts_an_array_without_the_version_header(client, basic_only, engine):
    batch = [ralph_style(statement()), ralph_style(statement())]
    response = forward(client, basic_only, batch)
    assert response.status_code == 200
    assert response.json == {
        "stored": [s["id"] for s in batch],
        "duplicates": [],
        "quarantined": [],
    }
    with database.read(engine) as conn:
        stored = store.get(conn, batch[0]["id"])
    # The upstream LRS's record is kept as it was.
    assert stored.statement["stored"] == batch[0]["stored"]
    assert stored.statement["authority"] == batch[0]["authority"]


def test_ralph_puts_a_single_object_without_statement_id(client, basic_only):
    s = ralph_style(statement())
    response = forward(client, basic_only, s, method="put")
    assert response.status_code == 200
    assert response.json["stored"] == [s["id"]]


def test_learning_locker_full_document_is_unwrapped(client, basic_only, engine):
    s = statement()
    document = {
        "statement": s,
        "lrs_id": "5f1",
        "client": "5f2",
        "person": {"_id": "p1", "display": "Ada"},
        "active": True,
        "voided": False,
        "timestamp": "2026-11-20T10:00:00.000Z",
    }
    response = forward(client, basic_only, document)
    assert response.json["stored"] == [s["id"]]


def test_redelivery_is_deduplicated(client, basic_only, engine):
    s = statement()
    forward(client, basic_only, s)
    response = forward(client, basic_only, [s, s])
    assert response.json["stored"] == []
    assert response.json["duplicates"] == [s["id"], s["id"]]
    with database.read(engine) as conn:
        assert store.count(conn) == 1
        assert len(queue.take(conn, 10)) == 1


def test_missing_id_gets_a_content_derived_id_so_redelivery_still_dedupes(client, basic_only):
    s = statement(id=None)
    first = forward(client, basic_only, s).json["stored"]
    second = forward(client, basic_only, s).json
    assert len(first) == 1
    assert second["duplicates"] == first


def test_each_stored_statement_records_its_source(client, basic_only, source, engine):
    """The upstream LRS's `authority` stays on a forwarded statement: the source is a column."""
    holder, _ = source
    s = statement(authority={"objectType": "Agent", "mbox": "mailto:lrs@example.org"})
    assert forward(client, basic_only, s).json["stored"] == [s["id"]]
    with database.read(engine) as conn:
        row = conn.execute(
            sa.select(statements.c.source_id, statements.c.received_via).where(
                statements.c.id == s["id"]
            )
        ).one()
        assert store.get(conn, s["id"]).statement["authority"] == s["authority"]
    assert row.source_id == holder.id and row.received_via == "forward"


def test_a_statement_without_id_or_timestamp_forwarded_again_is_a_duplicate(client, basic_only):
    s = statement(id=None, timestamp=None)
    first = forward(client, basic_only, s).json
    second = forward(client, basic_only, s).json
    assert len(first["stored"]) == 1
    assert second["duplicates"] == first["stored"] and second["quarantined"] == []


def test_invalid_statements_are_quarantined_and_the_valid_ones_stored(
    client, basic_only, engine, admin_headers
):
    good = statement()
    bad = statement(object={"objectType": "Activity", "id": "course-12"})
    response = forward(client, basic_only, [good, bad])
    assert response.status_code == 200
    body = response.json
    assert body["stored"] == [good["id"]]
    [held] = body["quarantined"]
    assert held["index"] == 1 and held["id"] == bad["id"]
    assert any(p["path"].startswith("object.id") for p in held["problems"])
    with database.read(engine) as conn:
        assert store.get(conn, bad["id"]) is None
        assert [e.statement_id for e in queue.take(conn, 10)] == [good["id"]]

    listed = client.get("/api/v1/quarantine", headers=admin_headers).json["items"]
    assert [item["statement_id"] for item in listed] == [bad["id"]]


def test_a_quarantined_statement_forwarded_again_is_counted_not_duplicated(
    client, basic_only, admin_headers
):
    bad = statement(object={"objectType": "Course", "id": "https://lms.example.org/c/1"})
    first = forward(client, basic_only, bad).json["quarantined"][0]["quarantine_id"]
    second = forward(client, basic_only, bad).json["quarantined"][0]["quarantine_id"]
    assert first == second
    item = client.get(f"/api/v1/quarantine/{first}", headers=admin_headers).json
    assert item["occurrences"] == 2
    assert item["statement"] == bad


def test_conflicting_content_for_a_stored_id_is_quarantined(client, basic_only, engine):
    s = statement()
    forward(client, basic_only, s)
    changed = dict(s, result={"completion": False})
    body = forward(client, basic_only, changed).json
    assert body["stored"] == []
    assert body["quarantined"][0]["problems"][0]["rule"] == "already stored with different content"


def test_readmit_with_normalisation(client, basic_only, admin_headers, app):
    app.extensions["lrs_settings"] = _with(
        app, normalise_activity_iri_base="https://lms.example.org/a/"
    )
    bad = statement(object={"objectType": "Activity", "id": "course-12"})
    held_id = forward(client, basic_only, bad).json["quarantined"][0]["quarantine_id"]

    refused = client.post(
        f"/api/v1/quarantine/{held_id}/readmit", json={"normalisations": []}, headers=admin_headers
    )
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "still-invalid"

    unknown = client.post(
        f"/api/v1/quarantine/{held_id}/readmit",
        json={"normalisations": ["magic"]},
        headers=admin_headers,
    )
    assert unknown.status_code == 422
    assert unknown.json["error"]["field"] == "body.normalisations"

    done = client.post(
        f"/api/v1/quarantine/{held_id}/readmit",
        json={"normalisations": ["activity-id-to-iri"]},
        headers=admin_headers,
    )
    assert done.status_code == 200, done.json
    headers = {"Authorization": basic_only["Authorization"], "X-Experience-API-Version": "1.0.3"}
    stored = client.get(
        "/xapi/statements", query_string={"statementId": bad["id"]}, headers=headers
    ).json
    assert stored["object"]["id"] == "https://lms.example.org/a/course-12"
    again = client.post(f"/api/v1/quarantine/{held_id}/readmit", json={}, headers=admin_headers)
    assert again.status_code == 409


def test_readmit_with_a_corrected_copy(client, basic_only, admin_headers):
    bad = statement(verb={"id": "completed"})
    held_id = forward(client, basic_only, bad).json["quarantined"][0]["quarantine_id"]
    fixed = dict(bad, verb={"id": "http://adlnet.gov/expapi/verbs/completed"})
    response = client.post(
        f"/api/v1/quarantine/{held_id}/readmit", json={"statement": fixed}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.json["statement_id"] == bad["id"]


def test_discard_and_listing_by_status(client, basic_only, admin_headers, auditor_headers):
    bad = statement(verb={"id": "completed"})
    held_id = forward(client, basic_only, bad).json["quarantined"][0]["quarantine_id"]
    assert (
        client.post(
            f"/api/v1/quarantine/{held_id}/discard",
            json={"reason": "test data"},
            headers=auditor_headers,
        ).status_code
        == 403
    )
    response = client.post(
        f"/api/v1/quarantine/{held_id}/discard",
        json={"reason": "test data"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    held = client.get("/api/v1/quarantine", headers=auditor_headers).json["items"]
    assert held == []
    discarded = client.get(
        "/api/v1/quarantine", query_string={"status": "discarded"}, headers=auditor_headers
    ).json["items"]
    assert discarded[0]["resolution"] == "test data"


def test_non_json_and_empty_bodies_are_400(client, basic_only):
    assert client.post("/forward/statements", data=b"<xml/>", headers=basic_only).status_code == 400
    assert client.post("/forward/statements", data=b"", headers=basic_only).status_code == 400


def test_forwarding_needs_credentials(client, source):
    response = client.post("/forward/statements", data=orjson.dumps(statement()))
    assert response.status_code == 401


def _with(app, **changes):
    from dataclasses import replace

    return replace(app.extensions["lrs_settings"], **changes)


def test_a_statement_too_deep_to_store_is_held_by_its_id(engine):
    from datetime import UTC, datetime

    from lrs_connector.store import quarantine

    deep: object = 1
    for _ in range(300):
        deep = [deep]
    with database.write(engine) as conn:
        held_id = quarantine.hold(
            conn,
            source_id=None,
            body={"id": "abc", "result": {"extensions": {"https://x.example/e": deep}}},
            problems=[{"path": "", "rule": "too deep"}],
            received_at=datetime.now(UTC),
        )
        held = quarantine.get(conn, held_id)
    assert held.statement_id == "abc"
    assert "too deep" in held.body["unstorable"]
