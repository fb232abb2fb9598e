"""`lrs-connector pull-sources …` and `lrs-connector pull`, invoked as the lead registers them."""

from __future__ import annotations

import orjson
import pytest
import responses

from lrs_connector.intake.pull_cli import pull, pull_sources
from lrs_connector.store import database
from lrs_connector.store import pull as pull_store
from tests.builders import statement
from tests.pull.fake_lrs import BASE, FakeRalph
from tests.pull.test_pull import T0, stored_by_ralph


@pytest.fixture
def cli(runner, monkeypatch):
    monkeypatch.setenv("RALPH_PASSWORD", "lrspass")

    def invoke(command, *args):
        return runner.invoke(command, list(args), catch_exceptions=False)

    return invoke


def add_ralph(cli, *extra):
    return cli(
        pull_sources,
        "add",
        "ralph",
        "--endpoint",
        BASE,
        "--username",
        "lrsuser",
        "--password-env",
        "RALPH_PASSWORD",
        *extra,
    )


def test_add_stores_a_reference_to_the_password_never_the_password(cli, engine):
    result = add_ralph(cli, "--interval", "30", "--verb", "http://adlnet.gov/expapi/verbs/passed")
    assert result.exit_code == 0, result.output
    assert "ralph: polling http://ralph.test:8100/xAPI/ every 30 s" in result.output
    with database.read(engine) as conn:
        source = pull_store.get(conn, "ralph")
    assert source.password_ref == "env:RALPH_PASSWORD"
    assert source.filters == {"verb": "http://adlnet.gov/expapi/verbs/passed"}
    listed = cli(pull_sources, "list", "--json")
    assert "lrspass" not in listed.output
    assert orjson.loads(listed.output)[0]["password_ref"] == "env:RALPH_PASSWORD"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint", "ftp://lrs.example.org/"], "must be an http(s) URL"),
        (["--endpoint", "https://user:pw@lrs.example.org/xapi/"], "not in the URL"),
        (["--endpoint", BASE, "--page-size", "0"], "page size must be 1 to 10000"),
        (["--endpoint", BASE, "--as-source", "nope"], "no source named 'nope'"),
    ],
)
def test_add_refuses_bad_values_with_a_precise_message(runner, args, message):
    result = runner.invoke(pull_sources, ["add", "x", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_both_password_options_are_refused(runner):
    result = runner.invoke(
        pull_sources,
        ["add", "x", "--endpoint", BASE, "--password-env", "A", "--password-file", "/tmp/p"],
    )
    assert result.exit_code == 2 and "not both" in result.output


def test_disable_enable_reset_remove(cli, engine):
    add_ralph(cli)
    assert "ralph: disable" in cli(pull_sources, "disable", "ralph").output
    assert "disabled" in cli(pull_sources, "list").output
    assert "ralph: enable" in cli(pull_sources, "enable", "ralph").output
    assert "ralph: reset (cursor -)" in cli(pull_sources, "reset", "ralph").output
    assert cli(pull_sources, "remove", "ralph").exit_code == 0
    with database.read(engine) as conn:
        assert pull_store.list_all(conn) == []
    missing = cli(pull_sources, "remove", "ralph")
    assert missing.exit_code == 1 and "no pull source named 'ralph'" in missing.output


def test_pull_once_reports_what_it_did_and_list_shows_the_cursor(cli):
    add_ralph(cli)
    fake = FakeRalph()
    fake.statements = [stored_by_ralph(statement(), T0) for _ in range(3)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        result = cli(pull, "--once")
    assert result.exit_code == 0, result.output
    assert "ralph: 1 page(s), 3 statement(s): 3 new, 0 duplicate(s), 0 quarantined" in (
        result.output
    )
    listed = cli(pull_sources, "list").output
    assert "cursor 2026-11-28 12:00:00  pulled 3" in listed


def test_a_failing_pull_exits_non_zero_and_list_shows_the_error(cli):
    add_ralph(cli)
    with responses.RequestsMock() as mock:
        mock.get(BASE + "statements", status=502, body="Bad Gateway")
        result = cli(pull, "ralph", "--once")
    assert result.exit_code == 1
    assert "FAILED: the LRS failed (502)" in result.output
    assert "FAILING x1" in cli(pull_sources, "list").output


@pytest.mark.parametrize("once", [["--once"], []], ids=["once", "loop"])
def test_pulling_an_unknown_or_disabled_source_is_refused(cli, once):
    unknown = cli(pull, "x", *once)
    assert unknown.exit_code == 1 and "no pull source named 'x'" in unknown.output
    add_ralph(cli)
    cli(pull_sources, "disable", "ralph")
    disabled = cli(pull, "ralph", *once)
    assert disabled.exit_code == 1 and "pull source 'ralph' is disabled" in disabled.output
