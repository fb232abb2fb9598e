"""The readiness endpoint and the `readiness` CLI group, on the demo data."""

from __future__ import annotations

import re

import sqlalchemy as sa

from lrs_connector.readiness.cli import readiness
from lrs_connector.store import database


def test_readiness_is_traceable_to_statements(client, auditor_headers, demo_loaded, engine):
    learner = demo_loaded[0]
    response = client.get(f"/api/v1/learners/{learner}/readiness", headers=auditor_headers)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert [r["code"] for r in data["roles"]] == ["ROLE.TM", "ROLE.DIR", "ROLE.CLO"]
    for role in data["roles"]:
        assert 0 <= role["score"] <= 100 and role["level"]
        assert abs(sum(q["gap"] for q in role["requirements"]) - (100 - role["score"])) < 0.2
        assert role["next_steps"] and role["next_steps"][0]["gap"] > 0
    with database.read(engine) as conn:
        ids = set(conn.execute(sa.text("SELECT id FROM statements")).scalars())
    items = [i for e in [*data["competencies"], *data["dimensions"]] for i in e["evidence"]]
    assert items and all(i["statement_id"] in ids and i["rule_id"] for i in items)
    for entry in [*data["competencies"], *data["dimensions"]]:
        if entry["evidence"]:
            total = sum(i["contribution"] for i in entry["evidence"])
            assert abs(total - entry["own"]) < 1e-3
    assert data["history"] and {p["role"] for p in data["history"]} <= {
        r["role"] for r in data["roles"]
    }
    activities = [a for s in data["roles"][0]["next_steps"] for a in s["activities"]]
    assert any(a.get("rule_id") for a in activities)


def test_evidence_limit_lists_the_strongest_items_with_the_same_numbers(
    client, auditor_headers, demo_loaded
):
    learner = demo_loaded[0]
    url = f"/api/v1/learners/{learner}/readiness"
    every = client.get(url, headers=auditor_headers).get_json()
    some = client.get(f"{url}?evidence=1", headers=auditor_headers).get_json()
    assert [r["score"] for r in some["roles"]] == [r["score"] for r in every["roles"]]
    for full, short in zip(every["competencies"] + every["dimensions"],
                           some["competencies"] + some["dimensions"], strict=True):
        assert short["target"] == full["target"] and short["own"] == full["own"]
        assert short["evidence_count"] == full["evidence_count"] == len(full["evidence"])
        assert short["evidence"] == full["evidence"][:1]
    assert any(e["evidence_count"] > 1 for e in every["competencies"])
    too_many = client.get(f"{url}?evidence=10001", headers=auditor_headers)
    assert too_many.status_code == 400
    assert too_many.get_json()["error"]["field"] == "query.evidence"


def test_role_filter_and_errors(client, auditor_headers, demo_loaded):
    learner = demo_loaded[0]
    one = client.get(f"/api/v1/learners/{learner}/readiness?role=ROLE.DIR", headers=auditor_headers)
    assert [r["code"] for r in one.get_json()["roles"]] == ["ROLE.DIR"]
    assert {p["role"] for p in one.get_json()["history"]} == {one.get_json()["roles"][0]["role"]}
    bad = client.get(f"/api/v1/learners/{learner}/readiness?role=nope", headers=auditor_headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "query.role"
    missing = client.get("/api/v1/learners/999999/readiness", headers=auditor_headers)
    assert missing.status_code == 404
    assert client.get("/api/v1/learners/x1/readiness", headers=auditor_headers).status_code == 400
    assert client.get(f"/api/v1/learners/{learner}/readiness?history=-1",
                      headers=auditor_headers).status_code == 400
    assert client.get(f"/api/v1/learners/{learner}/readiness").status_code == 401


def test_cli_show_and_recompute(runner, demo_loaded):
    learner = demo_loaded[0]
    shown = runner.invoke(readiness, ["show", str(learner)])
    assert shown.exit_code == 0, shown.output
    assert "Training manager (ROLE.TM)" in shown.output and "next:" in shown.output
    assert "Evidence" in shown.output
    as_json = runner.invoke(readiness, ["show", str(learner), "--json", "--role", "ROLE.CLO"])
    assert as_json.exit_code == 0 and '"ROLE.CLO"' in as_json.output
    assert runner.invoke(readiness, ["show", "999999"]).exit_code == 1
    assert runner.invoke(readiness, ["show", str(learner), "--role", "x"]).exit_code == 2
    done = runner.invoke(readiness, ["recompute", "--chunk", "2"])
    assert done.exit_code == 0, done.output
    assert "recomputed 5 learners" in done.output
    refreshed = runner.invoke(readiness, ["refresh", "--chunk", "2"])
    assert refreshed.exit_code == 0, refreshed.output
    assert re.search(r"refreshed 5 learners: \d+ role scores of \d+ learners changed",
                     refreshed.output), refreshed.output
