"""Versions, what-if, publish and replay, explain and coverage: CLI and API."""

from __future__ import annotations

import threading

import orjson
import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.mapping import bundled
from lrs_connector.mapping.cli import mapping
from lrs_connector.store import database
from lrs_connector.store.mapping_tables import evidence
from lrs_connector.web.mapping import bp
from tests.builders import statement
from tests.mapping.helpers import bundled_without_failed_rules


def load_demo(client, headers, engine):
    batch = demo.statements()
    assert (
        client.post("/xapi/statements", data=orjson.dumps(batch), headers=headers).status_code
        == 200
    )
    processing.run(engine, batch_size=500, idle_seconds=0.01, stop=threading.Event(), once=True)
    return batch


def register(app):
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)


def invoke(runner, *args):
    result = runner.invoke(mapping, list(args), catch_exceptions=False)
    return result


def test_draft_whatif_publish_replay(app, client, source_headers, engine, runner, tmp_path):
    load_demo(client, source_headers, engine)
    # The draft drops the failed-assessment rules and doubles the budget weight.
    text = bundled.bundled_text().replace(
        "budget-ownership, kind: practice, weight: 1.5",
        "budget-ownership, kind: practice, weight: 3.0",
    )
    draft = tmp_path / "draft.yaml"
    draft.write_text(bundled_without_failed_rules(text))

    result = invoke(runner, "import", str(draft))
    assert result.exit_code == 0 and "mapping version 2 (draft)" in result.output
    result = invoke(runner, "versions")
    assert "1  published" in result.output and "2  draft" in result.output

    result = invoke(runner, "whatif", "2")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["statements"] == len(demo.statements())
    removed = {
        (c["learner"], c["target"].rsplit("/", 1)[1]) for c in report["changes"] if c["removed"]
    }
    assert any(t == "business-acumen" for _, t in removed)  # Dev's failures no longer count
    changed = [c for c in report["changes"] if c["changed"]]
    assert changed and all(c["target"].endswith("budget-ownership") for c in changed)
    with database.read(engine) as conn:  # what-if writes nothing
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(evidence)
                .where(evidence.c.mapping_version == 2)
            ).scalar_one()
            == 0
        )

    def cells(target: str) -> dict[int, float]:
        with database.read(engine) as conn:
            return dict(conn.execute(sa.text(
                "SELECT learner_id, total FROM readiness_cells WHERE target LIKE :t"
            ), {"t": f"%{target}"}).all())

    budget_before = cells("budget-ownership")
    result = invoke(runner, "publish", "2", "--replay")
    assert result.exit_code == 0, result.output
    assert "version 1 retired" in result.output and "replayed" in result.output
    assert "readiness recomputed" in result.output  # scores follow the new rules at once
    budget_after = cells("budget-ownership")
    assert budget_before and all(budget_after[learner] > total
                                 for learner, total in budget_before.items() if total > 0)
    with database.read(engine) as conn:
        active = conn.execute(
            sa.select(evidence.c.mapping_version, evidence.c.rule_id).where(
                evidence.c.retracted.is_(False)
            )
        ).all()
        superseded = conn.execute(
            sa.select(sa.func.count())
            .select_from(evidence)
            .where(evidence.c.retraction == "superseded")
        ).scalar_one()
    assert {v for v, _ in active} == {2}
    assert not any(r.startswith("failed-") for _, r in active)
    assert superseded > 0
    # Replaying again is idempotent; after it, the what-if of the published version is empty.
    invoke(runner, "replay")
    assert orjson.loads(invoke(runner, "whatif", "2").output)["changes"] == []


def test_import_refuses_a_broken_file_with_its_problems(runner, tmp_path, engine):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nrules:\n  - id: r1\n    description: d\n    match: {verb: nope}\n"
        "    targets: [{target: https://x.example/y, kind: practice}]\n"
    )
    result = runner.invoke(mapping, ["import", str(bad)])
    assert result.exit_code != 0
    assert f"{bad}, rule r1, field match.verb" in result.output
    bad.write_text(
        "name: x\nrules:\n  - id: r1\n    description: d\n"
        "    match: {verb: http://adlnet.gov/expapi/verbs/passed}\n"
        "    targets: [{target: https://x.example/y, kind: practice}]\n"
    )
    result = runner.invoke(mapping, ["import", str(bad)])
    assert f"{bad}, rule r1, field targets.0.target" in result.output


def test_explain_cli_and_api(app, client, source_headers, auditor_headers, engine, runner):
    register(app)
    batch = load_demo(client, source_headers, engine)
    budget = next(s for s in batch if s["object"]["id"].endswith("ld-budget-2026"))
    result = invoke(runner, "explain", budget["id"])
    body = orjson.loads(result.output)
    assert set(body["matched"]) == {"owned-budget", "stretch-financial-fluency"}
    response = client.get(f"/api/v1/statements/{budget['id']}/explain", headers=auditor_headers)
    assert response.status_code == 200
    rules = {r["rule"]: r for r in response.json["rules"]}
    assert rules["owned-budget"]["matched"] is True
    assert rules["led-change"]["failed"]["condition"] == "match.template"
    assert "verb is not" in rules["led-change"]["failed"]["message"]
    assert rules["stretch-influence"]["failed"]["condition"] == "match.context_extensions.0"
    assert {e["rule_id"] for e in response.json["evidence"]} == set(body["matched"])
    assert response.json["learners"][0]["learner"] is not None
    missing = "00000000-0000-4000-8000-000000000000"
    assert (
        client.get(f"/api/v1/statements/{missing}/explain", headers=auditor_headers).status_code
        == 404
    )
    assert client.get("/api/v1/statements/nope/explain", headers=auditor_headers).status_code == 400
    assert client.get(f"/api/v1/statements/{missing}/explain").status_code == 401


def test_coverage(app, client, source_headers, auditor_headers, engine, runner):
    register(app)
    batch = load_demo(client, source_headers, engine)
    catalogue = sum(demo.needs_demo_mapping(s) for s in batch)  # the bundled rules miss these
    odd = statement(verb={"id": "http://adlnet.gov/expapi/verbs/experienced"})
    client.post("/xapi/statements", data=orjson.dumps([odd]), headers=source_headers)
    processing.run(engine, batch_size=500, idle_seconds=0.01, stop=threading.Event(), once=True)
    response = client.get("/api/v1/mapping/coverage", headers=auditor_headers)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["unmapped_statements"] == 1 + catalogue
    assert {"id": "http://adlnet.gov/expapi/verbs/experienced", "statements": 1} in (
        body["unmapped_verbs"]
    )
    hits = {r["rule"]: r["statements"] for r in body["rules"]}
    assert hits["failed-finance-for-ld"] == 3 and hits["business-case-approved"] == 0
    assert any(t.endswith("/integrity-honesty") for t in body["targets_without_rules"])
    cli = orjson.loads(invoke(runner, "coverage").output)
    assert cli["unmapped_statements"] == 1 + catalogue
    assert (
        client.get("/api/v1/mapping/coverage?limit=0", headers=auditor_headers).status_code == 400
    )


def _draft_without_failures(engine) -> int:
    """Store a draft of the bundled rules without the failed-assessment rules."""
    from datetime import UTC, datetime

    from lrs_connector.store import mapping as mapping_store

    lines, keep = [], True
    for line in bundled.bundled_text().splitlines():
        if line.startswith("  - id: "):
            keep = not line.startswith("  - id: failed-")
        if keep:
            lines.append(line)
    with database.write(engine) as conn:
        return mapping_store.import_version(
            conn, "\n".join(lines) + "\n", "draft.yaml", datetime.now(UTC)
        )


def test_whatif_and_publish_over_http(
    app, client, source_headers, auditor_headers, admin_headers, engine
):
    register(app)
    load_demo(client, source_headers, engine)
    draft = _draft_without_failures(engine)
    url = f"/api/v1/mapping/versions/{draft}"

    response = client.post(f"{url}/whatif", headers=auditor_headers)
    assert response.status_code == 200, response.json
    report = response.json
    assert report["version"] == draft and report["statements"] == len(demo.statements())
    assert report["removed"] > 0 and report["added"] == 0
    assert report["changes_total"] == len(report["changes"]) > 1
    assert all(c["target"].startswith("https://") for c in report["changes"])
    # Paged: one change at a time, from an offset.
    second = client.post(f"{url}/whatif", json={"limit": 1, "offset": 1}, headers=auditor_headers)
    assert second.json["changes"] == report["changes"][1:2] and second.json["offset"] == 1
    for body, field in (
        ({"limit": 0}, "body.limit"),
        ({"limit": "5"}, "body.limit"),
        ({"offset": -1}, "body.offset"),
        ({"nope": 1}, "body.nope"),
    ):
        bad = client.post(f"{url}/whatif", json=body, headers=auditor_headers)
        assert bad.status_code == 400 and bad.json["error"]["field"] == field
    assert client.post(f"{url}/whatif", data="[1]", headers=auditor_headers).status_code == 400
    assert (
        client.post("/api/v1/mapping/versions/99/whatif", headers=auditor_headers).status_code
        == 404
    )
    assert (
        client.post("/api/v1/mapping/versions/x/whatif", headers=auditor_headers).status_code == 400
    )
    assert client.post(f"{url}/whatif").status_code == 401
    with database.read(engine) as conn:  # what-if writes nothing
        drafted = sa.select(sa.func.count()).where(evidence.c.mapping_version == draft)
        assert conn.execute(drafted).scalar_one() == 0

    # Publishing is for admins; with replay the stored statements follow at once.
    assert client.post(f"{url}/publish", headers=auditor_headers).status_code == 403
    bad = client.post(f"{url}/publish", json={"replay": "yes"}, headers=admin_headers)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "body.replay"
    assert (
        client.post("/api/v1/mapping/versions/99/publish", headers=admin_headers).status_code == 404
    )
    response = client.post(f"{url}/publish", json={"replay": True}, headers=admin_headers)
    assert response.status_code == 200, response.json
    assert response.json["retired"] == 1 and response.json["status"] == "published"
    assert response.json["replay"]["statements"] == len(demo.statements())
    with database.read(engine) as conn:
        active = conn.execute(
            sa.select(evidence.c.mapping_version, evidence.c.rule_id).where(
                evidence.c.retracted.is_(False)
            )
        ).all()
    assert {v for v, _ in active} == {draft}
    assert not any(r.startswith("failed-") for _, r in active)
    # After the replay, the published version's what-if is empty.
    after = client.post(f"{url}/whatif", headers=auditor_headers).json
    assert after["changes"] == [] and after["changes_total"] == 0
    versions = client.get("/api/v1/mapping/versions", headers=auditor_headers).json["versions"]
    assert [v["status"] for v in versions] == ["retired", "published"]

    # Publish without replay: the older version is back in force for new statements only.
    response = client.post("/api/v1/mapping/versions/1/publish", headers=admin_headers)
    assert response.status_code == 200 and "replay" not in response.json
    assert response.json["retired"] == draft
