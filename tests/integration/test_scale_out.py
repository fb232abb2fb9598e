"""Scale out on PostgreSQL: two web processes, two processing workers and two delivery workers
on one database share the work; nothing is processed or delivered twice, the result is what one
process alone makes of the same statements, and each POST's X-Request-Id is in the log lines of
the batches that processed its statements and of the deliveries that followed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import requests
import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.app import create_app
from lrs_connector.settings import load_settings
from lrs_connector.store import database, schema
from lrs_connector.store.holders import SOURCES
from tests.conftest import POSTGRES_URL
from tests.delivery.receiver import start as start_receiver
from tests.network import free_port
from tests.waiting import until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="several processes share a PostgreSQL database "
                       "(SQLite has one writer by design); set LRS_CONNECTOR_TEST_DATABASE_URL"),
]
SECRET = "scale-out-webhook-secret"
STATEMENTS = 2_000
PER_REQUEST = 50



def _statements() -> list[dict]:
    """The demo's statements for 400 people (five each), fresh ids."""
    templates = [s for s in demo.statements() if s["verb"]["id"].rsplit("/", 1)[-1] != "voided"]
    out = []
    for n in range(STATEMENTS):
        statement = orjson.loads(orjson.dumps(templates[n % len(templates)]))
        statement["id"] = str(uuid.uuid4())
        statement["actor"] = {"objectType": "Agent", "account": {
            "homePage": "https://moodle.example.org", "name": f"u{n % 400}"}}
        out.append(statement)
    return out


_BRACKETS = re.compile(r"\[([^\]]*)\]: (processed a batch of \d+|delivered \d+ to hr)")


def _carried(text: str, what: str) -> list[set[str]]:
    """The request ids of each log line about `what` (text format: `name [ids]: message`)."""
    return [set(ids.split(" +")[0].split(",")) - {"-"}
            for ids, message in _BRACKETS.findall(text) if message.startswith(what)]


def _outcome(engine) -> tuple[set[str], set[tuple]]:
    """Evidence keys, and readiness by learner name: what processing made of the statements."""
    with database.read(engine) as conn:
        keys = set(conn.execute(sa.text("SELECT key FROM evidence")).scalars())
        roles = {(name, role, round(score, 1), level) for name, role, score, level in conn.execute(
            sa.text("SELECT l.name, r.role, r.score, r.level FROM readiness_roles r "
                    "JOIN learners l ON l.id = r.learner_id"))}
    return keys, roles


def _one_process(statements: list[dict], tmp_path: Path) -> tuple[set[str], set[tuple]]:
    """The same statements stored and processed by one process on SQLite: the reference."""
    settings = load_settings(environ={}, overrides={
        "database_url": f"sqlite:///{tmp_path / 'reference.db'}",
        "data_dir": str(tmp_path / "reference"), "log_format": "text",
        "public_base_url": "http://127.0.0.1:8080"})
    app = create_app(settings)
    engine = app.extensions["lrs_engine"]
    schema.upgrade(engine)
    try:
        with database.write(engine) as conn:
            _, credential = SOURCES.add(conn, "scale")
        client = app.test_client()
        for start in range(0, len(statements), 500):
            answer = client.post("/xapi/statements", json=statements[start : start + 500],
                                 auth=(credential.key, credential.secret),
                                 headers={"X-Experience-API-Version": "1.0.3"})
            assert answer.status_code == 200, answer.get_json()
        while processing.process_batch(engine, 1000):
            pass
        return _outcome(engine)
    finally:
        engine.dispose()


def _wait(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_two_web_two_processing_two_delivery_workers(engine, database_url, tmp_path):
    receiver, server = start_receiver(SECRET)
    with database.write(engine) as conn:
        _, credential = SOURCES.add(conn, "scale")
    env = {
        **os.environ,
        "LRS_CONNECTOR_DATABASE_URL": database_url,
        "LRS_CONNECTOR_DATA_DIR": str(tmp_path),
        "LRS_CONNECTOR_SECRET_KEY": "s" * 40,
        "LRS_CONNECTOR_AUTO_MIGRATE": "false",
        "LRS_CONNECTOR_EMBEDDED_PROCESSOR": "false",
        "LRS_CONNECTOR_EMBEDDED_PULLER": "false",
        "LRS_CONNECTOR_EMBEDDED_DISPATCHER": "false",
        "LRS_CONNECTOR_WEB_WORKERS": "1",
        "LRS_CONNECTOR_PROCESS_BATCH_SIZE": "100",
        "LRS_CONNECTOR_PROCESS_IDLE_SECONDS": "0.1",
        "LRS_CONNECTOR_LOG_FORMAT": "text",
        "LRS_CONNECTOR_LMS_TARGETS": orjson.dumps(
            {"hr": {"kind": "webhook", "url": receiver.url, "secret": SECRET}}).decode(),
    }
    # workers keep their counters in memory; prometheus_client's multiprocess mode starts when
    # the variable is set at all (an empty one writes its files to the working directory)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = [sys.executable, "-m", "lrs_connector"]
    ports = [free_port(), free_port()]
    logs: dict[str, Path] = {}
    processes: dict[str, subprocess.Popen] = {}

    def launch(name: str, *args: str, **extra: str) -> None:
        logs[name] = tmp_path / f"{name}.log"
        processes[name] = subprocess.Popen(
            [*cli, *args], env={**env, **extra}, stdout=logs[name].open("w"),
            stderr=subprocess.STDOUT)

    try:
        for n, port in enumerate(ports):
            launch(f"web{n}", "serve", LRS_CONNECTOR_PORT=str(port))
        for port in ports:
            _wait(lambda port=port: _answers(port), 60)
        statements = _statements()
        chunks = [statements[i : i + PER_REQUEST] for i in range(0, STATEMENTS, PER_REQUEST)]

        def post(index: int) -> int:
            port = ports[index % 2]
            return requests.post(
                f"http://127.0.0.1:{port}/xapi/statements", json=chunks[index], timeout=60,
                auth=(credential.key, credential.secret),
                headers={"X-Experience-API-Version": "1.0.3",
                         "X-Request-Id": f"scale-{index}"}).status_code

        # each worker answers on its metrics port once it is ready to take work: all four
        # must be, or one that starts slowly may find everything taken already
        metrics_ports = [free_port() for _ in range(4)]
        launch("process0", "process", "--metrics-port", str(metrics_ports[0]))
        launch("process1", "process", "--metrics-port", str(metrics_ports[1]))
        launch("worker0", "worker", "--idle", "0.2", "--metrics-port", str(metrics_ports[2]))
        launch("worker1", "worker", "--idle", "0.2", "--metrics-port", str(metrics_ports[3]))
        for port in metrics_ports:
            _wait(lambda port=port: _answers(port, "/metrics"), 60)
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, range(len(chunks)))) == {200}

        def settled() -> bool:
            with database.read(engine) as conn:
                queued = conn.execute(sa.text("SELECT COUNT(*) FROM processing_queue")).scalar()
                waiting = conn.execute(sa.text(
                    "SELECT COUNT(*) FROM outbox WHERE status = 'pending'")).scalar()
                busy = conn.execute(sa.text(
                    "SELECT COUNT(*) FROM deliveries WHERE status <> 'delivered'")).scalar()
            return queued == 0 and waiting == 0 and busy == 0

        _wait(settled, 120)
        # a worker writes its log line just after its commit: give the last ones time to land
        until(lambda: _logged_totals(logs) == (STATEMENTS, len(_deliveries(receiver))), 10)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        server.shutdown()

    text = {name: path.read_text() for name, path in logs.items()}
    with database.read(engine) as conn:
        stored = conn.execute(sa.text("SELECT COUNT(*) FROM statements")).scalar()
        deliveries = conn.execute(sa.text("SELECT COUNT(*) FROM deliveries")).scalar()
    assert stored == STATEMENTS
    keys, roles = _outcome(engine)
    assert keys and roles and (keys, roles) == _one_process(statements, tmp_path)
    processed, delivered = _logged(logs)
    assert sum(processed.values()) == STATEMENTS and min(processed.values()) > 0, processed
    assert min(delivered.values()) > 0, delivered
    events = receiver.events()
    headers = [r.headers["X-Lrs-Connector-Delivery"] for r in _deliveries(receiver)]
    assert len(headers) == len(set(headers)) == sum(delivered.values())  # nothing twice
    assert {(e["learner"]["id"], e["readiness"]["role"]) for e in events} and \
        len({(e["learner"]["id"], e["readiness"]["role"]) for e in events}) == deliveries
    assert all(r.signed for r in receiver.received)

    # request ids: every POST's id is in a batch line, and every delivery line carries some
    posted = {f"scale-{index}" for index in range(len(chunks))}
    batches = [ids for n in ("process0", "process1") for ids in _carried(text[n], "processed")]
    assert all(batches) and set().union(*batches) == posted
    pushed = [ids for n in ("worker0", "worker1") for ids in _carried(text[n], "delivered")]
    assert len(pushed) == sum(delivered.values()) and all(pushed)
    assert set().union(*pushed) <= posted


def _answers(port: int, path: str = "/healthz") -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _logged(logs: dict[str, Path]) -> tuple[dict[str, int], dict[str, int]]:
    """Per processing worker, the statements it logged as processed ("processed a batch of N
    statement(s)" after each commit); per delivery worker, the deliveries it logged."""
    processed = {n: sum(int(m) for m in re.findall(r"processed a batch of (\d+)",
                                                   logs[n].read_text()))
                 for n in ("process0", "process1")}
    delivered = {n: len(re.findall(r"delivered \d+ to hr", logs[n].read_text()))
                 for n in ("worker0", "worker1")}
    return processed, delivered


def _logged_totals(logs: dict[str, Path]) -> tuple[int, int]:
    processed, delivered = _logged(logs)
    return sum(processed.values()), sum(delivered.values())


def _deliveries(receiver) -> list:
    return [r for r in receiver.received if r.body.get("event") != "ping"]
