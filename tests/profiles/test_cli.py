import json

import pytest
from click.testing import CliRunner

from lrs_connector.profiles.cli import profile
from tests.profiles.builders import pattern, pid, profile_doc, statement, template, tid, verb


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def profile_file(tmp_path):
    doc = profile_doc(
        templates=[
            template("start", verb=verb("started")),
            template(
                "done",
                verb=verb("finished"),
                rules=[{"location": "$.result.success", "presence": "included"}],
            ),
        ],
        patterns=[pattern("run", "sequence", [tid("start"), tid("done")], primary=True)],
    )
    path = tmp_path / "test.jsonld"
    path.write_text(json.dumps(doc))
    return path


def test_check_bundled_by_default(runner):
    result = runner.invoke(profile, ["check"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_check_exits_non_zero_on_errors_and_lenient_downgrades(runner, tmp_path):
    doc = profile_doc(
        templates=[
            template(
                "t",
                verb=verb("did"),
                rules=[{"location": "result.success", "presence": "included"}],
            )
        ]
    )
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    strict = runner.invoke(profile, ["check", str(path)])
    assert strict.exit_code == 1
    assert f"ERROR   {tid('t')} [rules[0].location]" in strict.output
    lenient = runner.invoke(profile, ["check", "--lenient", "--json", str(path)])
    assert lenient.exit_code == 0
    data = json.loads(lenient.output)
    assert data["errors"] == 0 and data["findings"][0]["severity"] == "warning"


def test_check_reports_unreadable_files(runner, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    result = runner.invoke(profile, ["check", str(path)])
    assert result.exit_code == 1
    assert "not valid JSON" in result.output


def test_match_single_array_and_ndjson(runner, profile_file, tmp_path):
    ok = statement("finished", sid="s1", result={"success": True})
    bad = statement("finished", sid="s2")
    for text in (json.dumps(ok), json.dumps([ok, bad]), json.dumps(ok) + "\n\n" + json.dumps(bad)):
        result = runner.invoke(profile, ["match", "--profile", str(profile_file), "-"], input=text)
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)["results"]
        assert data[0]["matched"] == [tid("done")]
        assert data[0]["templates"] == [{"template": tid("done"), "outcome": "success"}]
    assert data[1]["templates"][0]["outcome"] == "invalid"
    assert data[1]["templates"][0]["reasons"][0]["location"] == "$.result.success"


def test_match_with_template_filter_and_all(runner, profile_file):
    args = ["match", "--profile", str(profile_file), "--template", tid("start"), "--all", "-"]
    result = runner.invoke(profile, args, input=json.dumps(statement("finished")))
    data = json.loads(result.output)["results"][0]
    assert data["templates"] == [
        {
            "template": tid("start"),
            "outcome": "unmatched",
            "reasons": [
                {
                    "requirement": "verb",
                    "message": f"verb is not {verb('started')}",
                    "found": [verb("finished")],
                }
            ],
        }
    ]


def test_match_rejects_bad_input(runner, profile_file):
    result = runner.invoke(
        profile, ["match", "--profile", str(profile_file), "-"], input='{"a": 1}\nnot json\n'
    )
    assert result.exit_code == 2
    assert "line 2" in result.output
    result = runner.invoke(
        profile,
        ["match", "--profile", str(profile_file), "--template", "https://nope", "-"],
        input="{}",
    )
    assert result.exit_code == 2 and "unknown template" in result.output


def test_pattern_groups_by_registration(runner, profile_file, tmp_path):
    def s(verb_name, reg, ts, **extra):
        return statement(verb_name, context={"registration": reg}, timestamp=ts, **extra)

    statements = [
        s("finished", "r1", "2025-01-01T10:05:00Z", result={"success": True}),
        s("started", "r1", "2025-01-01T10:00:00Z"),
        s("started", "r2", "2025-01-01T10:00:00Z"),
        s("finished", "r3", "2025-01-01T10:00:00Z", result={"success": True}),
    ]
    path = tmp_path / "statements.json"
    path.write_text(json.dumps(statements))
    result = runner.invoke(profile, ["pattern", "--profile", str(profile_file), str(path)])
    assert result.exit_code == 0, result.output
    report = {r["registration"]: r for r in json.loads(result.output)["registrations"]}
    assert report["r1"]["follows"] is True
    assert report["r2"]["patterns"][0]["status"] == "partial"
    assert report["r3"]["patterns"][0]["status"] == "no-match"
    assert report["r3"]["patterns"][0]["failed_at"] == 3  # index in the input file
    kept = runner.invoke(
        profile,
        [
            "pattern",
            "--profile",
            str(profile_file),
            "--keep-order",
            "--pattern",
            pid("run"),
            str(path),
        ],
    )
    assert json.loads(kept.output)["registrations"][0]["follows"] is False
