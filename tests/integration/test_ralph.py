"""Against a real LRS: Ralph (PyPI ralph-malph) forwarding to a live connector, and polled by it.

Ralph runs from its own virtualenv (`.ci/ralph-setup.sh` creates it and prints the path of
its `ralph` executable; give it as LRS_CONNECTOR_TEST_RALPH_BIN). Without it the test is
skipped, except on CI (`CI` set), where it fails: CI cannot silently skip it.

The story: statements sent to Ralph with `tincan` while the connector is down are lost by
forwarding (Ralph does not retry); once the connector is up, statements are forwarded; then
polling Ralph catches up on the lost ones, and everything forwarded comes back as duplicates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
import requests
import sqlalchemy as sa

from lrs_connector.intake.pull import Puller
from lrs_connector.intake.service import Intake
from lrs_connector.store import database
from lrs_connector.store import pull as pull_store
from lrs_connector.store.holders import SOURCES
from lrs_connector.store.tables import statements
from tests.network import free_port
from tests.waiting import until

pytestmark = pytest.mark.slow

RALPH_BIN = os.environ.get("LRS_CONNECTOR_TEST_RALPH_BIN", "")
RALPH_AGENT = ("-M", "mailto:lrsuser@example.org", "-w")
LAUNCHER = Path(__file__).with_name("ralph_launcher.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ralph_bin() -> Path:
    if not RALPH_BIN:
        reason = (
            "LRS_CONNECTOR_TEST_RALPH_BIN is not set: run `export LRS_CONNECTOR_TEST_RALPH_BIN="
            '"$(.ci/ralph-setup.sh)"` to test against a real Ralph LRS'
        )
        if os.environ.get("CI"):
            pytest.fail(reason + " (required on CI)")
        pytest.skip(reason)
    path = Path(RALPH_BIN)
    if not (path.is_file() and (path.parent / "python").is_file()):
        pytest.fail(f"LRS_CONNECTOR_TEST_RALPH_BIN={RALPH_BIN}: not a ralph executable in a venv")
    return path



def wait_until(check, seconds: float, what: str):
    value = until(check, seconds, interval=0.1)
    if not value:
        raise AssertionError(f"timed out after {seconds} s waiting for {what}")
    return value


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
        return True
    except requests.RequestException:  # not listening yet, or too busy starting to answer
        return False


class Processes:
    def __init__(self) -> None:
        self.running: list[tuple[subprocess.Popen, Path]] = []

    def start(self, args, env, log: Path) -> subprocess.Popen:
        handle = open(log, "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
        self.running.append((process, log))
        return process

    def stop(self) -> None:
        for process, _ in self.running:
            process.terminate()
        for process, _ in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def processes():
    started = Processes()
    yield started
    started.stop()


def start_ralph(ralph_bin: Path, processes: Processes, tmp: Path, forward_to: str, key, secret):
    env = {
        **os.environ,
        "RALPH_APP_DIR": str(tmp / "ralph-app"),
        "RALPH_AUTH_FILE": str(tmp / "ralph-auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(tmp / "ralph-data"),
        "RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT": "2",  # several pages, and Ralph's empty one
        "RALPH_XAPI_FORWARDINGS": orjson.dumps(
            [
                {
                    "is_active": True,
                    "url": forward_to,
                    "basic_username": key,
                    "basic_password": secret,
                    "max_retries": 1,
                    "timeout": 5,
                }
            ]
        ).decode(),
    }
    subprocess.run(
        [str(ralph_bin), "auth", "-u", "lrsuser", "-p", "lrspass", "-s", "all", *RALPH_AGENT],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    processes.start(
        [str(ralph_bin.parent / "python"), str(LAUNCHER), str(port)], env, tmp / "ralph.log"
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(base + "/__heartbeat__"), 60, "Ralph to start")
    return base + "/xAPI/"


def tincan_statement(n: int):
    from tincan import Activity, Agent, Statement, Verb

    return Statement(
        id=str(uuid.uuid4()),
        actor=Agent(mbox=f"mailto:learner{n}@example.org", name=f"Learner {n}"),
        verb=Verb(id="http://adlnet.gov/expapi/verbs/completed"),
        object=Activity(id=f"https://lms.example.org/course/{n}"),
    )


def received(engine) -> dict[str, str]:
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(statements.c.id, statements.c.received_via))
        return dict(rows.all())


def test_every_statement_arrives_forwarded_or_pulled(
    ralph_bin, processes, engine, settings, tmp_path, monkeypatch
):
    from tincan import RemoteLRS, StatementList

    with database.write(engine) as conn:
        _, credential = SOURCES.add(conn, "ralph", description="Ralph, forwarding")
    connector_port = free_port()  # reserved for the connector, which is not up yet
    ralph = start_ralph(
        ralph_bin,
        processes,
        tmp_path,
        f"http://127.0.0.1:{connector_port}/forward/statements",
        credential.key,
        credential.secret,
    )
    lrs = RemoteLRS(endpoint=ralph, version="1.0.3", username="lrsuser", password="lrspass")

    # 1. The connector is down: Ralph stores these, its forwards fail and are dropped.
    lost = [tincan_statement(i) for i in range(3)]
    assert lrs.save_statements(StatementList(lost[:2])).success
    assert lrs.save_statement(lost[2]).success

    # 2. The connector is up: a POST of a batch, and single statements, are forwarded.
    connector = start_connector_on(processes, settings, tmp_path, connector_port)
    assert requests.get(connector + "/healthz", timeout=5).status_code == 200
    forwarded = [tincan_statement(i) for i in range(3, 8)]
    assert lrs.save_statements(StatementList(forwarded[:3])).success
    for s in forwarded[3:]:
        assert lrs.save_statement(s).success
    forwarded_ids = {str(s.id) for s in forwarded}
    wait_until(lambda: forwarded_ids <= set(received(engine)), 30, "Ralph's forwards")
    assert {received(engine)[i] for i in forwarded_ids} == {"forward"}
    assert not {str(s.id) for s in lost} & set(received(engine))

    # 3. Polling Ralph catches up on what forwarding lost; the rest are duplicates.
    monkeypatch.setenv("TEST_RALPH_PASSWORD", "lrspass")
    with database.write(engine) as conn:
        source = pull_store.add(
            conn,
            "ralph",
            ralph,
            username="lrsuser",
            password_ref="env:TEST_RALPH_PASSWORD",
            page_size=2,
            source_name="ralph",
        )
    puller = Puller(engine, Intake.from_settings(engine, settings))
    result = puller.pull(source.id)
    assert result.error is None
    assert (result.received, result.stored, result.duplicates) == (8, 3, 5)
    assert result.pages >= 4  # Ralph served at most 2 per page
    everything = received(engine)
    assert set(everything) == {str(s.id) for s in lost} | forwarded_ids
    assert {everything[str(s.id)] for s in lost} == {"pull"}

    # 4. New statements after the cursor are pulled again; nothing is duplicated in the store.
    later = tincan_statement(9)
    assert lrs.save_statement(later).success
    wait_until(lambda: str(later.id) in received(engine), 30, "the later forward")
    again = puller.pull(source.id)
    assert again.error is None and again.stored == 0 and again.duplicates >= 1
    assert len(received(engine)) == 9
    with database.read(engine) as conn:
        state = pull_store.get(conn, "ralph")
    assert state.cursor_stored is not None and state.failures == 0


def start_connector_on(processes: Processes, settings, tmp: Path, port: int) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LRS_CONNECTOR_")},
        "LRS_CONNECTOR_DATABASE_URL": settings.database_url,
        "LRS_CONNECTOR_DATA_DIR": str(tmp / "connector"),
        "LRS_CONNECTOR_PORT": str(port),
        "LRS_CONNECTOR_WEB_WORKERS": "1",
        "LRS_CONNECTOR_EMBEDDED_PULLER": "false",
        "LRS_CONNECTOR_LOG_FORMAT": "text",
    }
    processes.start([sys.executable, "-m", "lrs_connector", "serve"], env, tmp / "connector.log")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(base + "/healthz"), 60, "the connector to start")
    return base
