"""Separate worker processes answer Prometheus themselves (`--metrics-port`): their counters
move with the work they did, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from lrs_connector import demo
from tests.delivery.receiver import start as start_receiver
from tests.network import free_port

pytestmark = pytest.mark.slow
SECRET = "worker-metrics-webhook-secret"



def _samples(port: int) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape, or {} while nobody answers."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def _wait_for(port: int, ready, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    found: dict = {}
    while time.monotonic() < deadline:
        found = _samples(port)
        if found and ready(found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"the counters never got there: {sorted(found)[:40]}")


def test_processing_and_delivery_workers_serve_their_own_counters(
    client, source_headers, database_url, tmp_path
):
    statements = demo.statements()
    answer = client.post("/xapi/statements", json=statements, headers=source_headers)
    assert answer.status_code == 200, answer.get_json()
    receiver, server = start_receiver(SECRET)
    env = {
        **os.environ,
        "LRS_CONNECTOR_DATABASE_URL": database_url,
        "LRS_CONNECTOR_DATA_DIR": str(tmp_path),
        "LRS_CONNECTOR_SECRET_KEY": "s" * 40,
        "LRS_CONNECTOR_LOG_FORMAT": "text",
        "LRS_CONNECTOR_PROCESS_IDLE_SECONDS": "0.1",
        "LRS_CONNECTOR_PUBLIC_BASE_URL": "http://127.0.0.1:8080",
        "LRS_CONNECTOR_LMS_TARGETS": orjson.dumps(
            {"hr": {"kind": "webhook", "url": receiver.url, "secret": SECRET}}).decode(),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # a worker keeps its counters in memory
    cli = [sys.executable, "-m", "lrs_connector"]
    ports = {"process": free_port(), "worker": free_port()}
    logs = {name: Path(tmp_path / f"{name}.log") for name in ports}
    processes = []
    try:
        processes.append(subprocess.Popen(
            [*cli, "process", "--metrics-port", str(ports["process"])], env=env,
            stdout=logs["process"].open("w"), stderr=subprocess.STDOUT))
        processes.append(subprocess.Popen(
            [*cli, "worker", "--idle", "0.2", "--metrics-port", str(ports["worker"])], env=env,
            stdout=logs["worker"].open("w"), stderr=subprocess.STDOUT))
        stored = ("lrs_statements_processed_total", (("event", "stored"),))
        found = _wait_for(ports["process"], lambda s: s.get(stored) == len(statements))
        assert found[("lrs_evidence_written_total", ())] > 0
        assert found[("lrs_readiness_changes_total", (("role", "ROLE.TM"),))] > 0
        delivered = ("lrs_deliveries_total", (("outcome", "delivered"), ("target", "hr")))
        found = _wait_for(ports["worker"], lambda s: s.get(delivered, 0) > 0)
        assert found[delivered] <= len(receiver.events())
        # each worker counts its own work: the delivery worker processed nothing
        assert found.get(stored, 0) == 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        server.shutdown()
    for name, log in logs.items():
        assert "Traceback" not in log.read_text(), f"{name}: {log.read_text()[-2000:]}"
