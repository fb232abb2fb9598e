"""Learner page speed: one learner with 10,000 evidence rows (and their statements) on the
embedded default (SQLite in a temporary folder). Prints the server time of
`GET /learner/<token>` (wall clock and this thread's CPU time, which other processes on a
busy machine do not inflate) and where it goes (target ≤ 100 ms).

    python bench/learner_page.py [--rows 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrs_connector import learner_links
from lrs_connector.app import create_app
from lrs_connector.frameworks.documents import load_bundled
from lrs_connector.readiness.report import report
from lrs_connector.settings import load_settings
from lrs_connector.store import database, schema
from lrs_connector.store import readiness as store
from lrs_connector.web import ui
from lrs_connector.web.ui import learner_page, learner_view

NOW = datetime.now(UTC)


def _when(moment: datetime) -> str:
    return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fill(engine, rows: int) -> None:
    """Learner 1 with `rows` evidence rows over 30 targets, each from a stored statement."""
    rnd = random.Random(7)
    framework = load_bundled()
    targets = sorted(framework.competencies) + sorted(framework.dimensions)
    targets = (targets * 2)[:30]
    statements, evidence = [], []
    for n in range(rows):
        statement_id = str(uuid.UUID(int=rnd.getrandbits(128)))
        moment = NOW - timedelta(seconds=rnd.randrange(3 * 365 * 86_400))
        activity = f"https://lms.example.org/course/{n % 400}"
        body = {"id": statement_id, "actor": {"mbox": "mailto:bench@example.org"},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/completed",
                         "display": {"en-US": "completed"}},
                "object": {"id": activity, "definition": {"name": {"en-US": f"Course {n % 400}"}}},
                "timestamp": moment.isoformat()}
        statements.append((statement_id, "forward", _when(NOW), _when(moment),
                           body["verb"]["id"], "Activity", activity, 0,
                           orjson.dumps(body).decode()))
        evidence.append((f"bench-{n:08d}", statement_id, 1, "mbox:bench@example.org",
                         f"rule-{n % 20}", 1, targets[n % len(targets)],
                         rnd.choice((0.5, 1.0, 1.5)),
                         "negative" if rnd.random() < 0.1 else "positive",
                         rnd.choice(("knowledge", "practice", "feedback")),
                         rnd.choice((0.6, 0.8, 0.9)), _when(moment), None, _when(NOW), 0))
    with database.write(engine) as conn:
        cursor = conn.connection.cursor()
        cursor.execute("INSERT INTO learners (id, name, created_at) VALUES (1, 'Bench', ?)",
                       (_when(NOW),))
        cursor.executemany(
            "INSERT INTO statements (id, received_via, received_at, timestamp, verb_id, "
            "object_type, object_id, voided, body) VALUES (?,?,?,?,?,?,?,?,?)", statements)
        cursor.executemany(
            "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
            "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
            "valid_until, created_at, retracted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            evidence)
        cursor.close()
    store.recompute_all(engine, now=NOW)  # current scores and a first history point


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(environ={}, overrides={"data_dir": folder, "log_format": "text",
                                                        "log_level": "WARNING"})
        app = create_app(settings)
        for blueprint in ui.BLUEPRINTS:
            if blueprint.name not in app.blueprints:
                app.register_blueprint(blueprint)
        engine = app.extensions["lrs_engine"]
        schema.upgrade(engine)
        _fill(engine, args.rows)
        token = learner_links.issue(app.config["SECRET_KEY"], 1, NOW)
        client = app.test_client()
        assert client.get(f"/learner/{token}").status_code == 200  # warm-up: caches, templates
        served, cpu, reading, building, rendering = [], [], [], [], []
        for _ in range(args.runs):
            started, started_cpu = time.perf_counter(), time.thread_time()
            answer = client.get(f"/learner/{token}")
            served.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
            assert answer.status_code == 200
            with app.test_request_context():
                started = time.perf_counter()
                with database.read(engine) as conn:
                    scorer = store.scorer(conn)
                    result = store.learner_readiness(
                        conn, 1, strongest=learner_view.EVIDENCE_PER_COMPETENCY)
                    data = report(scorer, result, learner_id=1,
                                  activities=store.activities(conn),
                                  history=store.history(conn, 1, None, 200))
                reading.append(time.perf_counter() - started)
                started = time.perf_counter()
                page = learner_page.page_for(1)
                building.append(time.perf_counter() - started)
                from flask import render_template

                started = time.perf_counter()
                render_template("learner.html", page=page, audience="learner",
                                link_expires="2099-01-01")
                rendering.append(time.perf_counter() - started)
        size = len(answer.data)
        shown = sum(len(c["evidence"]) for c in learner_view.build(
            data, learner_name="Bench", statements={}).competencies)
        print(f"learner page, {args.rows:,} evidence rows ({shown} shown, {size:,} bytes): "
              f"server time {_median_ms(served)}, CPU {_median_ms(cpu)} (median of {args.runs}; "
              "target ≤ 100 ms; CPU time tells on a busy machine)")
        print(f"  read + score + report {_median_ms(reading)}; everything the page reads and "
              f"builds {_median_ms(building)}; template {_median_ms(rendering)}")
        engine.dispose()


if __name__ == "__main__":
    main()
