"""The admin API's view of pull sources (`/api/v1/pull-sources`): the state and last error an
admin needs, for auditors and admins, and never a credential."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector.intake.pull import Puller
from lrs_connector.intake.service import Intake
from lrs_connector.store import database
from lrs_connector.store import pull as pull_store
from lrs_connector.store.holders import SOURCES, TOKENS
from tests.network import free_port
from tests.pull.attempts import record_failure

PASSWORD = "lrs-password-that-must-stay-hidden"
USERNAME = "connector-user-at-the-lrs"
PASSWORD_VAR = "TEST_PULL_API_LRS_PASSWORD"
MORE_TOKEN = "opaque-more-token-from-the-lrs"
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def closed_port_endpoint() -> str:
    """An xAPI base URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}/xapi/"


@pytest.fixture
def down(engine, settings, monkeypatch) -> pull_store.PullSource:
    """A pull source whose LRS is down, after one real pull attempt against it."""
    monkeypatch.setenv(PASSWORD_VAR, PASSWORD)
    with database.write(engine) as conn:
        SOURCES.add(conn, "ll-attribution")
        added = pull_store.add(conn, "down-lrs", closed_port_endpoint(), username=USERNAME,
                               password_ref=f"env:{PASSWORD_VAR}", timeout_seconds=2,
                               filters={"verb": "http://adlnet.gov/expapi/verbs/completed"},
                               source_name="ll-attribution")
    result = Puller(engine, Intake.from_settings(engine, settings), owner="test").pull(added.id)
    assert result.error  # the connection was refused
    with database.read(engine) as conn:
        return pull_store.get(conn, "down-lrs")


def assert_no_credentials(text: str) -> None:
    for secret in (PASSWORD, USERNAME, PASSWORD_VAR, MORE_TOKEN, "password_ref", "username",
                   "chain_more", "lease_owner"):
        assert secret not in text, secret


def test_a_failing_source_shows_its_error_when_and_the_next_attempt(client, auditor_headers,
                                                                     down):
    listed = client.get("/api/v1/pull-sources", headers=auditor_headers)
    assert listed.status_code == 200
    assert_no_credentials(listed.get_data(as_text=True))
    [row] = listed.json["pull_sources"]
    assert listed.json["next"] is None and listed.json["next_cursor"] is None
    assert row["name"] == "down-lrs" and row["endpoint"] == down.endpoint
    assert row["last_error"] == down.last_error and "127.0.0.1" in row["last_error"]
    assert row["failing"] is True and row["failures"] == 1
    assert row["last_error_at"] == down.last_error_at.isoformat()
    assert row["next_attempt_at"] > row["last_error_at"]
    assert row["last_success_at"] is None and row["cursor_stored"] is None
    assert row["source_name"] == "ll-attribution" and row["enabled"] is True
    assert row["filters"] == {"verb": "http://adlnet.gov/expapi/verbs/completed"}
    assert (row["interval_seconds"], row["pulled_total"]) == (60.0, 0)

    one = client.get("/api/v1/pull-sources/down-lrs", headers=auditor_headers)
    assert one.status_code == 200 and one.json == row
    assert_no_credentials(one.get_data(as_text=True))


def test_failures_count_up_and_a_success_clears_the_failing_state(client, admin_headers,
                                                                  down):
    with database.write(client.application.extensions["lrs_engine"]) as conn:
        for n, error in enumerate(["LRS answered 503", "timed out after 2 s"], start=1):
            now = T0 + timedelta(minutes=n)
            assert pull_store.claim(conn, down.id, "test", now, 60)
            pull_store.finish(conn, down.id, "test", now=now, error=error, retry_after=120)
    failing = client.get("/api/v1/pull-sources/down-lrs", headers=admin_headers).json
    assert (failing["failures"], failing["last_error"]) == (3, "timed out after 2 s")
    assert failing["last_error_at"] == (T0 + timedelta(minutes=2)).isoformat()
    assert failing["next_attempt_at"] == (T0 + timedelta(minutes=4)).isoformat()

    with database.write(client.application.extensions["lrs_engine"]) as conn:
        now = T0 + timedelta(minutes=5)
        assert pull_store.claim(conn, down.id, "test", now, 60)
        pull_store.finish(conn, down.id, "test", now=now, error=None, retry_after=60)
    recovered = client.get("/api/v1/pull-sources/down-lrs", headers=admin_headers).json
    assert recovered["failing"] is False and recovered["failures"] == 0
    assert recovered["last_success_at"] == (T0 + timedelta(minutes=5)).isoformat()
    assert recovered["last_error"] == "timed out after 2 s"  # kept for the record


def test_a_pull_in_progress_shows_no_more_link_nor_lease_owner(client, auditor_headers, engine):
    with database.write(engine) as conn:
        source = pull_store.add(conn, "ralph", "https://lrs.example.org/xAPI/")
        assert pull_store.claim(conn, source.id, "host:123:lease", T0, 600)
        pull_store.commit_page(conn, source.id, "host:123:lease", now=T0, lease_seconds=600,
                               more=f"/xAPI/statements?more={MORE_TOKEN}", newest_stored=T0,
                               count=3)
    answer = client.get("/api/v1/pull-sources/ralph", headers=auditor_headers)
    assert_no_credentials(answer.get_data(as_text=True))
    assert "host:123" not in answer.get_data(as_text=True)
    assert answer.json["resuming"] is True and answer.json["pulling"] is True
    assert answer.json["pulled_total"] == 3


def test_an_unknown_name_is_a_404_naming_the_path(client, auditor_headers):
    answer = client.get("/api/v1/pull-sources/nowhere", headers=auditor_headers)
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "not-found"
    assert answer.json["error"]["field"] == "path.name"
    assert "nowhere" in answer.json["error"]["message"]


def test_pull_sources_page_by_name(client, auditor_headers, engine):
    with database.write(engine) as conn:
        for name in ("c-lrs", "a-lrs", "b-lrs"):
            pull_store.add(conn, name, f"https://{name}.example.org/xAPI/")
    first = client.get("/api/v1/pull-sources?limit=2", headers=auditor_headers).json
    assert [p["name"] for p in first["pull_sources"]] == ["a-lrs", "b-lrs"]
    second = client.get(first["next"], headers=auditor_headers).json
    assert [p["name"] for p in second["pull_sources"]] == ["c-lrs"] and second["next"] is None
    foreign = client.get("/api/v1/pull-sources?cursor=" + first["next_cursor"] + "x",
                         headers=auditor_headers)
    assert foreign.status_code == 422


def test_failing_filters_pages_of_pull_sources(client, auditor_headers, engine):
    with database.write(engine) as conn:
        for name in ("a-lrs", "b-lrs", "c-lrs", "d-lrs", "e-lrs"):
            pull_store.add(conn, name, f"https://{name}.example.org/xAPI/")
    record_failure(engine, "b-lrs", "502 Bad Gateway", T0)
    record_failure(engine, "d-lrs", "502 Bad Gateway", T0)
    first = client.get("/api/v1/pull-sources?failing=true&limit=1", headers=auditor_headers).json
    assert [p["name"] for p in first["pull_sources"]] == ["b-lrs"]
    assert first["pull_sources"][0]["failing"] is True
    second = client.get(first["next"], headers=auditor_headers).json
    assert [p["name"] for p in second["pull_sources"]] == ["d-lrs"] and second["next"] is None
    others = client.get("/api/v1/pull-sources?failing=false", headers=auditor_headers).json
    assert [p["name"] for p in others["pull_sources"]] == ["a-lrs", "c-lrs", "e-lrs"]
    wrong = client.get("/api/v1/pull-sources?failing=sometimes", headers=auditor_headers)
    assert wrong.status_code == 400 and "failing" in wrong.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/v1/pull-sources", "/api/v1/pull-sources/down-lrs",
                                  "/api/v1/pull-sources/nowhere"])
def test_callers_need_an_api_token(client, engine, source_headers, down, path):
    """No credentials, a source's credentials, or a disabled token: 401 before anything else
    (there is no role below auditor, so no read here answers 403)."""
    with database.write(engine) as conn:
        _, token = TOKENS.add(conn, "gone", role="auditor")
        TOKENS.set_enabled(conn, "gone", False)
    for headers in ({}, {"Authorization": source_headers["Authorization"]},
                    {"Authorization": f"Bearer {token.bearer_token}"},
                    {"Authorization": "Bearer tok_made.up"}):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json["error"]["code"] == "unauthorized"
        assert "last_error" not in answer.get_data(as_text=True)


def test_the_document_declares_auditor_callers_and_no_credential_fields(client):
    document = client.get("/api/v1/openapi.json").json
    listing = document["paths"]["/api/v1/pull-sources"]["get"]
    one = document["paths"]["/api/v1/pull-sources/{name}"]["get"]
    assert listing["x-access"] == one["x-access"] == "auditor"
    assert {"401", "403", "404"} <= set(one["responses"])
    fields = set(document["components"]["schemas"]["PullSource"]["properties"])
    assert {"last_error", "last_error_at", "failures", "next_attempt_at"} <= fields
    assert not fields & {"username", "password_ref", "chain_more", "lease_owner"}
