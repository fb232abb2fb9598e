"""The command line, run in-process against the test database."""

from __future__ import annotations

import re

import orjson

from lrs_connector.cli import main
from lrs_connector.store import database, quarantine
from tests.builders import statement


def invoke(runner, *args, input=None):
    result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
    return result


def test_help_lists_the_commands(runner):
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    for command in ("serve", "process", "db", "sources", "tokens", "quarantine", "demo"):
        assert command in result.output


def test_sources_add_list_rotate_disable(runner, client):
    added = invoke(runner, "sources", "add", "ralph", "--description", "Ralph LRS")
    assert added.exit_code == 0
    key = re.search(r"key (src_\w+)", added.output).group(1)
    secret = re.search(r"secret\s+(\S+)", added.output).group(1)
    headers = {"X-Experience-API-Version": "1.0.3"}
    assert (
        client.post(
            "/xapi/statements", data=orjson.dumps(statement()), headers=headers, auth=(key, secret)
        ).status_code
        == 200
    )

    listed = invoke(runner, "sources", "list", "--json")
    [row] = orjson.loads(listed.output)
    assert (
        row["name"] == "ralph"
        and row["enabled"]
        and "secret" not in listed.output.lower().replace("secret_hash", "")
    )
    assert secret not in listed.output

    rotated = invoke(runner, "sources", "rotate", "ralph")
    new_secret = re.search(r"secret\s+(\S+)", rotated.output).group(1)
    assert (
        client.post(
            "/xapi/statements", data=orjson.dumps(statement()), headers=headers, auth=(key, secret)
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/xapi/statements",
            data=orjson.dumps(statement()),
            headers=headers,
            auth=(key, new_secret),
        ).status_code
        == 200
    )

    assert invoke(runner, "sources", "disable", "ralph").exit_code == 0
    assert (
        client.post(
            "/xapi/statements",
            data=orjson.dumps(statement()),
            headers=headers,
            auth=(key, new_secret),
        ).status_code
        == 401
    )


def test_duplicate_and_unknown_names_are_clear_errors(runner):
    invoke(runner, "sources", "add", "ll")
    result = invoke(runner, "sources", "add", "ll")
    assert result.exit_code == 1 and "already exists" in result.output
    result = invoke(runner, "sources", "rotate", "nobody")
    assert result.exit_code == 1 and "no source named 'nobody'" in result.output


def test_tokens_need_a_known_role(runner):
    assert invoke(runner, "tokens", "add", "ops", "--role", "root").exit_code == 2
    result = invoke(runner, "tokens", "add", "ops", "--role", "auditor")
    assert result.exit_code == 0 and "tok_" in result.output


def test_db_current(runner):
    result = invoke(runner, "db", "current")
    assert result.exit_code == 0 and "(current)" in result.output


def test_quarantine_commands(runner, client, source_headers, engine):
    bad = statement(object={"objectType": "Activity", "id": "course-9"})
    headers = {"Authorization": source_headers["Authorization"]}
    client.post("/forward/statements", data=orjson.dumps(bad), headers=headers)
    with database.read(engine) as conn:
        [held] = quarantine.page(conn)

    listed = invoke(runner, "quarantine", "list")
    assert bad["id"] in listed.output and "object.id" in listed.output
    shown = orjson.loads(invoke(runner, "quarantine", "show", str(held.id)).output)
    assert shown["statement"] == bad

    refused = invoke(runner, "quarantine", "readmit", str(held.id))
    assert refused.exit_code == 1 and "object.id" in refused.output

    runner.env = {"LRS_CONNECTOR_NORMALISE_ACTIVITY_IRI_BASE": "https://lms.example.org/"}
    done = invoke(
        runner, "quarantine", "readmit", str(held.id), "--normalise", "activity-id-to-iri"
    )
    assert done.exit_code == 0, done.output
    assert f"statement {bad['id']}" in done.output
    assert invoke(runner, "quarantine", "discard", str(held.id)).exit_code == 1


def test_demo_is_idempotent_within_a_day(runner, engine):
    from lrs_connector.store import statements as store

    first = invoke(runner, "demo")
    assert first.exit_code == 0, first.output
    with database.read(engine) as conn:
        count = store.count(conn)
    assert count > 20
    second = invoke(runner, "demo")
    assert "(0 new)" in second.output
    with database.read(engine) as conn:
        assert store.count(conn) == count


def test_process_once(runner, client, source_headers):
    client.post(
        "/xapi/statements", data=orjson.dumps([statement(), statement()]), headers=source_headers
    )
    result = invoke(runner, "process", "--once")
    assert result.exit_code == 0
    assert "processed 2 statement(s) in all" in result.output


def test_a_bad_setting_stops_the_command_with_its_name(runner):
    runner.env = {"LRS_CONNECTOR_WEB_WORKERS": "lots"}
    result = invoke(runner, "db", "current")
    assert result.exit_code == 1
    assert "LRS_CONNECTOR_WEB_WORKERS" in result.output


def test_doctor_says_what_to_fix(runner, client, source_headers):
    result = invoke(runner, "doctor")
    assert result.exit_code == 0, result.output
    assert "ok   database" in result.output
    assert "WARN public_base_url" in result.output and "fix:" in result.output
    bad = statement(object={"objectType": "Activity", "id": "course-1"})
    client.post(
        "/forward/statements",
        data=orjson.dumps(bad),
        headers={"Authorization": source_headers["Authorization"]},
    )
    result = invoke(runner, "doctor")
    assert "WARN quarantine" in result.output and "quarantine list" in result.output


def test_doctor_fails_on_an_unreachable_database(runner, tmp_path):
    runner.env = {"LRS_CONNECTOR_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:1/none"}
    result = invoke(runner, "doctor")
    assert result.exit_code == 1
    assert "FAIL database" in result.output and "LRS_CONNECTOR_DATABASE_URL" in result.output
