"""Audit console speed with 1,000,000 stored statements on the embedded default (SQLite in a
temporary folder): server time of `GET /console/audit/statements` for each filter, first page
and a later page (keyset), plus the rules and coverage pages (target ≤ 100 ms per statements
page).

Statements are written straight into SQLite (not through intake): 5 sources, 20,000 learners,
40 verbs, 5,000 activities over three years; two in three statements have one or two
evidence rows, one in a hundred is voided.

    python bench/audit_console.py [--statements 1000000] [--runs 5]
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
from urllib.parse import urlencode

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrs_connector.accounts import hash_password
from lrs_connector.app import create_app
from lrs_connector.mapping import bundled
from lrs_connector.settings import load_settings
from lrs_connector.store import accounts, audit_counts, database, schema
from lrs_connector.store import mapping as mapping_store
from lrs_connector.web import ui
from lrs_connector.web.ui import audit

NOW = datetime.now(UTC)
ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = [ADL + v for v in ("completed", "passed", "failed", "attempted", "experienced")] + [
    f"https://example.org/verbs/v{n}" for n in range(35)]
PASSWORD = "a bench password that is long enough"


def _when(moment: datetime) -> str:
    return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(engine, count: int, chunk: int = 50_000) -> None:
    rnd = random.Random(11)
    targets = sorted(bundled.known_targets())
    with database.write(engine) as conn:
        version = mapping_store.import_version(conn, bundled.bundled_text(), "bench", NOW,
                                               publish=True)
        rules = [r.id for r in mapping_store.mapper(conn, version).rules]
        cursor = conn.connection.cursor()
        cursor.executemany("INSERT INTO sources (id, name, description, key, secret_hash, "
                           "enabled, created_at) VALUES (?, ?, '', ?, 'x', 1, ?)",
                           [(n, f"source-{n}", f"key-{n}", _when(NOW)) for n in range(1, 6)])
        cursor.executemany("INSERT INTO learners (id, name, created_at) VALUES (?, ?, ?)",
                           [(n, f"Learner {n}", _when(NOW)) for n in range(1, 20_001)])
        cursor.executemany("INSERT INTO learner_aliases (alias, learner_id, kind, created_at) "
                           "VALUES (?, ?, 'mbox', ?)",
                           [(f"mbox:l{n}", n, _when(NOW)) for n in range(1, 20_001)])
        cursor.close()
    for start in range(0, count, chunk):
        statements, evidence, named = [], [], []
        for n in range(start, min(count, start + chunk)):
            sid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
            moment = NOW - timedelta(seconds=rnd.randrange(3 * 365 * 86_400))
            learner = rnd.randrange(1, 20_001)
            verb = VERBS[min(int(rnd.expovariate(0.25)), len(VERBS) - 1)]
            activity = f"https://lms.example.org/activity/{rnd.randrange(5000)}"
            body = {"id": sid, "actor": {"name": f"Learner {learner}",
                                         "mbox": f"mailto:l{learner}@example.org"},
                    "verb": {"id": verb}, "object": {"id": activity},
                    "timestamp": moment.isoformat()}
            voided = rnd.random() < 0.01
            named.append((sid, f"mbox:l{learner}"))
            statements.append((sid, rnd.randrange(1, 6), "bench", _when(moment), _when(moment),
                               verb, "Activity", activity, voided, orjson.dumps(body).decode()))
            if not voided and n % 3:
                for k in range(1 + n % 2):
                    evidence.append((f"{sid}-{k}", sid, learner, f"mbox:l{learner}",
                                     rules[(n + k) % len(rules)], version,
                                     targets[(n + k) % len(targets)], 1.0, "positive",
                                     "knowledge", 0.8, _when(moment), None, _when(moment), 0))
        with database.write(engine) as conn:
            cursor = conn.connection.cursor()
            cursor.executemany(
                "INSERT INTO statements (id, source_id, received_via, received_at, timestamp, "
                "verb_id, object_type, object_id, voided, body) VALUES (?,?,?,?,?,?,?,?,?,?)",
                statements)
            cursor.executemany(
                "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
                "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
                "valid_until, created_at, retracted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                evidence)
            cursor.executemany("INSERT INTO statement_aliases (statement_id, alias) VALUES (?, ?)",
                               named)
            cursor.close()
        print(f"\rstored {min(count, start + chunk):,} statements", end="", file=sys.stderr)
    print(file=sys.stderr)
    with database.write(engine) as conn:  # the audit counters, as migration 0016 fills them
        audit_counts.rebuild(conn)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def timed(client, path: str, runs: int) -> tuple[float, float, str]:
    """Median wall and CPU time of a GET, and the next page's path (if any)."""
    walls, cpus = [], []
    answer = None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        answer = client.get(path)
        walls.append(time.perf_counter() - started)
        cpus.append(time.thread_time() - started_cpu)
        assert answer.status_code == 200, (path, answer.status_code)
    text = answer.get_data(as_text=True)
    marker = '<a href="'
    older = text.find('">Older</a>')
    nxt = text[text.rfind(marker, 0, older) + len(marker):older].replace("&amp;", "&") \
        if older > 0 else ""
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, nxt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(environ={}, overrides={"data_dir": folder, "log_format": "text",
                                                        "log_level": "WARNING"})
        app = create_app(settings)
        for blueprint in (*ui.BLUEPRINTS, audit.bp):
            if blueprint.name not in app.blueprints:
                app.register_blueprint(blueprint)
        engine = app.extensions["lrs_engine"]
        schema.upgrade(engine)
        started = time.perf_counter()
        fill(engine, args.statements)
        print(f"setup: {args.statements:,} statements in {time.perf_counter() - started:.0f}s "
              "(not timed)")
        with database.write(engine) as conn:
            accounts.add(conn, "bench", "auditor", hash_password(PASSWORD), NOW)
        client = app.test_client()
        login = client.get("/login").get_data(as_text=True)
        token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "bench", "password": PASSWORD,
                                    "csrf_token": token})
        month = (NOW - timedelta(days=400)).date()
        filters = {
            "no filter": {},
            "learner": {"learner": "4242"},
            "verb (common)": {"verb": VERBS[0]},
            "verb (rare)": {"verb": VERBS[30]},
            "activity": {"activity": "https://lms.example.org/activity/77"},
            "source": {"source": "3"},
            "time range (a month)": {"since": str(month), "until": str(month + timedelta(30))},
            "mapped": {"state": "mapped"},
            "unmapped": {"state": "unmapped"},
            "voided": {"state": "voided"},
            "verb + unmapped + month": {"verb": VERBS[1], "state": "unmapped",
                                        "since": str(month), "until": str(month + timedelta(30))},
            "source + learner": {"source": "2", "learner": "77"},
        }
        print(f"statements page (50 rows; median of {args.runs}; target ≤ 100 ms):")
        for label, query in filters.items():
            path = "/console/audit/statements?" + urlencode(query)
            client.get(path)  # warm-up
            wall, cpu, nxt = timed(client, path, args.runs)
            line = f"  {label:<26} first page {wall:6.1f} ms (CPU {cpu:5.1f})"
            if nxt:
                wall2, cpu2, _ = timed(client, nxt, args.runs)
                line += f"   next page {wall2:6.1f} ms (CPU {cpu2:5.1f})"
            print(line)
        for label, path in (("statement explained", None), ("rules", "/console/audit/rules"),
                            ("coverage", "/console/audit/coverage")):
            if path is None:
                with database.read(engine) as conn:
                    sid = conn.exec_driver_sql(
                        "SELECT statement_id FROM evidence LIMIT 1").scalar()
                path = f"/console/audit/statements/{sid}"
            client.get(path)
            wall, cpu, _ = timed(client, path, max(1, args.runs // 2))
            print(f"  {label:<26} {wall:8.1f} ms (CPU {cpu:5.1f})")
        engine.dispose()


if __name__ == "__main__":
    main()
