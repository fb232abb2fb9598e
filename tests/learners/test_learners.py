"""Learners: created from actors, merged and split by admins (CLI and API), evidence follows."""

from __future__ import annotations

import threading

import orjson
import sqlalchemy as sa

from lrs_connector import processing
from lrs_connector.learners.cli import learners as learners_cli
from lrs_connector.store import database
from lrs_connector.store.mapping_tables import evidence
from lrs_connector.web.learners import bp
from tests.builders import statement

COURSE = {
    "objectType": "Activity",
    "id": "https://moodle.demo.lrs-connector.dev/course/finance-for-ld",
}


def setup_people(app, client, headers, engine):
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)
    batch = [
        statement(
            object=COURSE,
            result={"completion": True},
            actor={"objectType": "Agent", "mbox": "mailto:ada@example.org"},
        ),
        statement(
            object=COURSE,
            result={"completion": True},
            actor={
                "objectType": "Agent",
                "account": {"homePage": "https://lms.example.org", "name": "ada"},
            },
        ),
    ]
    assert (
        client.post("/xapi/statements", data=orjson.dumps(batch), headers=headers).status_code
        == 200
    )
    processing.run(engine, batch_size=50, idle_seconds=0.01, stop=threading.Event(), once=True)


def owners(engine):
    with database.read(engine) as conn:
        return conn.execute(sa.select(evidence.c.alias, evidence.c.learner_id)).all()


def test_merge_and_split_over_the_api(
    app, client, source_headers, admin_headers, auditor_headers, engine
):
    setup_people(app, client, source_headers, engine)
    listed = client.get("/api/v1/learners", headers=auditor_headers).json["learners"]
    assert len(listed) == 2 and all(row["evidence"] == 3 for row in listed)
    by_mbox, by_account = listed[0]["id"], listed[1]["id"]
    response = client.post(
        f"/api/v1/learners/{by_mbox}/merge", json={"learner": by_account}, headers=admin_headers
    )
    assert response.status_code == 200, response.json
    assert {learner for _, learner in owners(engine)} == {by_mbox}
    shown = client.get(f"/api/v1/learners/{by_account}", headers=auditor_headers).json
    assert shown["merged_into"] == by_mbox and shown["aliases"] == []
    merged = client.get(f"/api/v1/learners/{by_mbox}", headers=auditor_headers).json
    assert len(merged["aliases"]) == 3  # account, mbox and its sha1
    assert (
        client.post(
            f"/api/v1/learners/{by_mbox}/merge", json={"learner": by_account}, headers=admin_headers
        ).status_code
        == 409
    )
    assert (
        client.post(
            f"/api/v1/learners/{by_mbox}/merge",
            json={"learner": by_account},
            headers=auditor_headers,
        ).status_code
        == 403
    )

    response = client.post(
        f"/api/v1/learners/{by_mbox}/split",
        json={"aliases": ["account:https://lms.example.org|ada"]},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.json
    new = response.json["new_learner"]
    assert response.json["moved"] == {"aliases": 1, "evidence": 3}
    assert {(a.split(":")[0], who) for a, who in owners(engine)} == {
        ("mbox", by_mbox),
        ("account", new),
    }
    bad = client.post(
        f"/api/v1/learners/{by_mbox}/split", json={"aliases": ["ada"]}, headers=admin_headers
    )
    assert bad.status_code == 422 and bad.json["error"]["field"] == "body.aliases[0]"
    last = client.post(
        f"/api/v1/learners/{by_mbox}/split",
        json={"aliases": ["mailto:ada@example.org"]},
        headers=admin_headers,
    )
    assert last.status_code == 409  # would leave the learner without aliases


def test_merge_and_split_on_the_cli(app, client, source_headers, engine, runner):
    setup_people(app, client, source_headers, engine)
    result = runner.invoke(
        learners_cli, ["merge", "mbox:ada@example.org", "account:https://lms.example.org|ada"]
    )
    assert result.exit_code == 0, result.output
    assert "3 evidence rows moved" in result.output
    assert "aliases 3" in runner.invoke(learners_cli, ["list"]).output
    shown = orjson.loads(runner.invoke(learners_cli, ["show", "mailto:ada@example.org"]).output)
    assert len(shown["evidence"]) == 6 and len(shown["targets"]) == 3
    result = runner.invoke(
        learners_cli, ["split", "mbox:ada@example.org", "mailto:ada@example.org"]
    )
    assert result.exit_code == 0 and "3 evidence rows moved" in result.output
    result = runner.invoke(learners_cli, ["merge", "1", "1"])
    assert result.exit_code != 0 and "itself" in result.output


def test_readiness_follows_a_merge(app, client, source_headers, admin_headers, engine):
    import sqlalchemy as sa

    from lrs_connector.store.readiness_tables import readiness_roles

    def scores() -> dict[int, float]:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(readiness_roles.c.learner_id, readiness_roles.c.score))
            out: dict[int, float] = {}
            for learner, score in rows:
                out[learner] = out.get(learner, 0.0) + score
            return out

    setup_people(app, client, source_headers, engine)
    before = scores()
    by_mbox, by_account = sorted(before)
    assert before[by_mbox] > 0 and before[by_account] > 0
    client.post(
        f"/api/v1/learners/{by_mbox}/merge", json={"learner": by_account}, headers=admin_headers
    )
    after = scores()
    assert after.get(by_account, 0.0) == 0.0
    assert after[by_mbox] > before[by_mbox]
