"""`lrs-connector serve` for real: granian on 127.0.0.1, the tincan client and plain HTTP,
and the embedded processor emptying the queue."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from tincan import Activity, Agent, RemoteLRS, Statement, Verb

from lrs_connector import demo
from lrs_connector.embedded_processor import STOP_SECONDS
from lrs_connector.serve import GRACEFUL_SECONDS, without_process_environment
from lrs_connector.store import database
from tests.network import free_port
from tests.waiting import until

pytestmark = pytest.mark.slow



class Served(NamedTuple):
    base: str
    key: str
    secret: str
    process: subprocess.Popen
    data_dir: Path


def _environment(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    return dict(
        os.environ,
        LRS_CONNECTOR_DATABASE_URL=database_url,
        LRS_CONNECTOR_DATA_DIR=str(data_dir),
        LRS_CONNECTOR_PORT=str(port),
        LRS_CONNECTOR_PROCESS_IDLE_SECONDS="0.05",
        LRS_CONNECTOR_LOG_FORMAT="json",
        PYTHONFAULTHANDLER="1",  # _stopped: SIGABRT prints every thread's stack
    )


@contextlib.contextmanager
def serving(database_url: str, data_dir: Path, config: Path | None = None) -> Iterator[Served]:
    """`lrs-connector serve` on a free port until the block ends; no secret in its output."""
    port = free_port()
    env = _environment(database_url, data_dir, port)
    cli = [sys.executable, "-m", "lrs_connector", *(["--config", str(config)] if config else [])]
    added = subprocess.run(
        [*cli, "sources", "add", "tincan"], env=env, capture_output=True, text=True, check=True
    )
    key = re.search(r"key (src_\w+)", added.stdout).group(1)
    secret = re.search(r"secret\s+(\S+)", added.stdout).group(1)
    process = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    output = ""
    try:
        _wait_until_answering(base, process)
        yield Served(base, key, secret, process, data_dir)
    finally:
        if process.poll() is None:
            process.terminate()
        output = _stopped(process, 30, data_dir)
    assert secret not in (output or ""), "a secret reached the logs"


def _stopped(process: subprocess.Popen, seconds: float, data_dir: Path) -> str:
    """serve's output once it has stopped. One that has not stopped within ``seconds`` fails
    the test, with every thread's stack of serve and of each process it started (they run
    with PYTHONFAULTHANDLER), and is killed with all of them: nothing may go on serving,
    polling or processing against the test database while the next tests use it."""
    try:
        return process.communicate(timeout=seconds)[0]
    except subprocess.TimeoutExpired:
        pass
    others = [pid for pid in _serving_from(data_dir) if pid != process.pid]
    for group, pause in (([process.pid], 0.5), (others, 1.0)):  # serve's stacks first
        for pid in group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGABRT)
        time.sleep(pause)
    for pid in [process.pid, *_serving_from(data_dir)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        output = process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        output = "(its output stayed open)"
    pytest.fail(f"serve did not stop within {seconds:.0f} s of SIGTERM; its stacks:\n"
                + output[:40_000])


def _serving_from(data_dir: Path) -> list[int]:
    """Every process started for a serve on ``data_dir`` (its web processes, and processors
    even once orphaned: they are in sessions of their own), found by the environment they
    inherited."""
    marker = f"LRS_CONNECTOR_DATA_DIR={data_dir}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
    return found


def _wait_until_answering(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60  # generous: CI machines may be busy
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/xapi/about", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still starting
            pass
        if process.poll() is not None:
            pytest.fail("serve exited: " + process.stdout.read())
        time.sleep(0.1)
    pytest.fail("serve did not answer within 60 s")


def _web_processes(pid: int) -> set[int]:
    return _children(pid)


@pytest.fixture
def server(database_url, tmp_path):
    with serving(database_url, tmp_path) as served:
        yield served


def test_tincan_client_posts_and_reads_back(server, database_url):
    base, key, secret, *_ = server
    lrs = RemoteLRS(endpoint=base + "/xapi/", version="1.0.1", username=key, password=secret)
    statement = Statement(
        id=str(uuid.uuid4()),
        actor=Agent(name="Ada", mbox="mailto:ada@example.org"),
        verb=Verb(id="http://adlnet.gov/expapi/verbs/completed", display={"en-US": "completed"}),
        object=Activity(id="https://lms.example.org/course/42"),
    )
    saved = lrs.save_statement(statement)
    assert saved.success, saved.data
    batch = lrs.save_statements(
        [
            Statement(
                actor=Agent(mbox="mailto:bo@example.org"),
                verb=Verb(id="http://adlnet.gov/expapi/verbs/attempted"),
                object=Activity(id="https://lms.example.org/course/43"),
            )
        ]
    )
    assert batch.success, batch.data
    fetched = lrs.retrieve_statement(str(statement.id))
    assert fetched.success and str(fetched.content.id) == str(statement.id)

    # The embedded processor takes both statements off the queue.
    engine = sa.create_engine(database_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM processing_queue")).scalar() == 0:
                break
        time.sleep(0.1)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM processing_queue")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM statements")).scalar() == 2
    engine.dispose()
    # The processor's own process counts them where serve's /metrics adds counters up (just
    # after its commit).
    assert until(lambda: _processed(base).get("stored") == 2, 10), _processed(base)


class _StatementsLRS(ThreadingHTTPServer):
    """An LRS's Statements API on 127.0.0.1: one page with `statements`, then nothing new."""

    def __init__(self, statements: list[dict]) -> None:
        self.statements = statements
        self.asked: list[str] = []
        super().__init__(("127.0.0.1", 0), _StatementsPage)


class _StatementsPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.asked.append(self.path)
        since = parse_qs(urlsplit(self.path).query).get("since")
        page = [] if since else self.server.statements
        body = orjson.dumps({"statements": page, "more": ""})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_serve_polls_the_configured_lrs_sources(database_url, tmp_path):
    """The embedded puller (on by default) pulls a configured source into the store, and the
    embedded processor maps what it pulled."""
    stored = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    statements = [dict(s, id=str(uuid.uuid4()), stored=stored) for s in demo.statements()[:30]]
    lrs = _StatementsLRS(statements)
    thread = threading.Thread(target=lrs.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    env = _environment(database_url, tmp_path, free_port())
    subprocess.run(
        [sys.executable, "-m", "lrs_connector", "pull-sources", "add", "upstream", "--endpoint",
         f"http://127.0.0.1:{lrs.server_port}/xapi/", "--interval", "1"],
        env=env, capture_output=True, text=True, check=True,
    )
    engine = sa.create_engine(database_url)

    def count(table: str) -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()

    try:
        with serving(database_url, tmp_path):
            assert until(lambda: count("statements") == len(statements), 30), count("statements")
            assert until(lambda: count("processing_queue") == 0 and count("evidence") > 0, 30)
            assert until(lambda: len(lrs.asked) >= 2, 10), lrs.asked  # again, from its cursor
        with engine.connect() as conn:
            vias = conn.execute(sa.text("SELECT DISTINCT received_via FROM statements")).scalars()
            assert list(vias) == ["pull"]
        assert "since=" not in lrs.asked[0] and "since=" in lrs.asked[-1]
    finally:
        lrs.shutdown()
        engine.dispose()


def _processed(base: str) -> dict[str, float]:
    scraped = requests.get(base + "/metrics", timeout=5).text
    return {
        sample.labels.get("event"): sample.value
        for family in text_string_to_metric_families(scraped) for sample in family.samples
        if sample.name == "lrs_statements_processed_total"
    }


def test_plain_http_like_curl(server):
    base, key, secret, *_ = server
    body = {
        "actor": {"mbox": "mailto:cy@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
        "object": {"id": "https://lms.example.org/quiz/1"},
    }
    headers = {"X-Experience-API-Version": "1.0.3"}
    response = requests.post(
        base + "/xapi/statements", json=body, auth=(key, secret), headers=headers, timeout=5
    )
    assert response.status_code == 200
    [statement_id] = response.json()
    got = requests.get(
        base + "/xapi/statements",
        params={"statementId": statement_id},
        auth=(key, secret),
        headers=headers,
        timeout=5,
    )
    assert got.json()["verb"]["id"] == body["verb"]["id"]


def _processors(serve_pid: int) -> set[int]:
    """The processing processes the web processes started (`embedded_processor.start`)."""
    return {child for web in _web_processes(serve_pid) for child in _children(web)
            if b"embedded_processor.main()" in _command_line(child)}


def _children(pid: int) -> set[int]:
    """Children of every thread of ``pid`` (granian starts one thread per web process, and
    one ends as its web process does: skip those, as a process that just ended)."""
    found = set()
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _expected_processors(server, database_url: str) -> int:
    """One in all on SQLite (the web processes take turns); one per web process otherwise."""
    return 1 if database_url.startswith("sqlite") else len(_web_processes(server.process.pid))


def _all_processors(server, database_url: str) -> set[int]:
    """The processors, once all that serve runs have started."""
    expected = _expected_processors(server, database_url)
    found = until(lambda: len(_processors(server.process.pid)) == expected
                      and _processors(server.process.pid))
    assert found, f"expected {expected} processor(s), found {_processors(server.process.pid)}"
    return found


def test_processing_runs_in_a_process_of_its_own_at_lower_priority(server, database_url):
    processors = _all_processors(server, database_url)
    web = os.getpriority(os.PRIO_PROCESS, next(iter(_web_processes(server.process.pid))))
    want = min(web + 10, 19)  # processor_niceness: 10
    # a web process lowers its processor's priority just after starting it
    niceness = until(lambda: all(os.getpriority(os.PRIO_PROCESS, pid) == want
                                 for pid in processors) and processors, 10)
    assert niceness, {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in processors}


def test_the_processor_scores_with_the_settings_serve_was_given(database_url, tmp_path):
    """Settings from a configuration file (not the environment) reach the processing process."""
    config = tmp_path / "connector.toml"
    config.write_text('[lrs_connector]\nreadiness_levels = ["nowhere=0", "somewhere=1"]\n'
                      "badges_levels = []\n")
    with serving(database_url, tmp_path, config) as served:
        posted = requests.post(
            served.base + "/xapi/statements", json=demo.statements(datetime.now(UTC))[:40],
            auth=(served.key, served.secret), headers={"X-Experience-API-Version": "1.0.3"},
            timeout=30)
        assert posted.status_code == 200, posted.text
        engine = sa.create_engine(database_url)
        try:
            def levels() -> set[str]:
                with engine.connect() as conn:
                    if conn.execute(sa.text("SELECT count(*) FROM processing_queue")).scalar():
                        return set()
                    return set(conn.execute(sa.text("SELECT level FROM readiness_roles"))
                               .scalars())
            found = until(levels)
        finally:
            engine.dispose()
    assert found and found <= {"nowhere", "somewhere"}, found


def test_a_web_process_that_dies_is_started_again(server, database_url):
    before = _web_processes(server.process.pid)
    assert before, "serve runs its web processes as children"
    expected = _expected_processors(server, database_url)
    processors = _all_processors(server, database_url)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _web_processes(server.process.pid)
        if len(now) == len(before) and not now & before:
            break
        time.sleep(0.2)
    assert len(now) == len(before) and not now & before
    _wait_until_answering(server.base, server.process)
    # The processors of the killed web processes notice and stop; the new ones start theirs,
    # on SQLite only once the old one has ended (it keeps the sole-worker lock).
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in processors) and time.monotonic() < deadline:
        if database_url.startswith("sqlite"):
            started = _processors(server.process.pid) - processors  # before looking at the old
            assert not (started and any(_alive(pid) for pid in processors)), (
                "two processors at once")
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in processors), "an orphan processor"
    assert until(lambda: len(_processors(server.process.pid) - processors) == expected)


def test_a_processor_that_dies_is_started_again(server, database_url):
    processors = _all_processors(server, database_url)
    for pid in processors:
        os.kill(pid, signal.SIGKILL)
    expected = _expected_processors(server, database_url)
    assert until(lambda: len(_processors(server.process.pid) - processors) == expected)
    server.process.terminate()
    output = _stopped(server.process, 30, server.data_dir)
    assert "the processing process ended (exit code -9); another starts in 1 s" in output


def test_sigterm_stops_serve_cleanly(database_url, tmp_path):
    with serving(database_url, tmp_path) as served:
        processors = _all_processors(served, database_url)
        started = time.monotonic()
        served.process.terminate()
        served.process.wait(30)
        # serve waits for its processors (each finishes its batch) before it exits
        assert not any(_alive(pid) for pid in processors), "a processor outlived serve"
        output = _stopped(served.process, 30, served.data_dir)
        assert served.process.returncode == 0, output
        _assert_stopped_without_the_kill(time.monotonic() - started, output)


def _assert_stopped_without_the_kill(seconds: float, output: str) -> None:
    """Granian kills a web process that has not stopped within GRACEFUL_SECONDS. (Its message
    about that can also appear without the wait, when its two threads that reap a stopped
    web process race under load; what matters is how long the stop took.)"""
    assert seconds < GRACEFUL_SECONDS - 5, output


def test_stopping_every_process_at_once_starts_no_processor_again(database_url, tmp_path):
    """As systemd stops a service: SIGTERM to every process of it."""
    with serving(database_url, tmp_path) as served:
        processors = _all_processors(served, database_url)
        for pid in {served.process.pid, *_web_processes(served.process.pid), *processors}:
            os.kill(pid, signal.SIGTERM)
        output = _stopped(served.process, 30, served.data_dir)
        assert served.process.returncode == 0, output
        assert "the processing process ended" not in output, output
        assert until(lambda: not any(_alive(pid) for pid in processors), 10)


def test_a_processor_asked_to_stop_is_not_started_again(server, database_url):
    """SIGTERM is how a stop reaches the processor when serve is stopping (systemd signals
    every process): its web process must not start another meanwhile."""
    processors = _all_processors(server, database_url)
    for pid in processors:
        os.kill(pid, signal.SIGTERM)
    assert until(lambda: not any(_alive(pid) for pid in processors), 10)
    time.sleep(2.5)  # longer than the first restart pause
    assert not _processors(server.process.pid)
    server.process.terminate()
    output = _stopped(server.process, 30, server.data_dir)
    assert "the processing process stopped (it was asked to)" in output
    assert "the processing process ended" not in output


@contextlib.contextmanager
def _turn_held(database_url: str) -> Iterator[None]:
    """While the block runs, SQLite's writers (a processing batch among them) wait for their
    turn: the lock file beside the database (store/database.py)."""
    path = database.lock_path(sa.engine.make_url(database_url).database, "writer")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def test_a_processor_stopped_during_a_stuck_batch_gives_it_up(database_url, tmp_path):
    """A stop waits for the batch under way, but not for ever: the processor ends
    `STOP_SECONDS` after the stop although its batch is still waiting. It was asked to stop,
    so its web process starts no other. (SQLite only: the give-up does not depend on the
    database, and it takes `STOP_SECONDS` of CI time per run.)"""
    if not database_url.startswith("sqlite"):
        pytest.skip("run once, on SQLite, where a stuck processor holds the only turn")
    with serving(database_url, tmp_path) as served:
        processors = _all_processors(served, database_url)
        with _turn_held(database_url):
            time.sleep(1.0)  # a processor idles 0.05 s here: by now its next batch is waiting
            stopped = time.monotonic()
            for pid in processors:
                os.kill(pid, signal.SIGTERM)
            time.sleep(3)
            assert all(_alive(pid) for pid in processors), "the stop did not wait for the batch"
            assert until(lambda: not any(_alive(pid) for pid in processors), STOP_SECONDS + 10)
            assert time.monotonic() - stopped >= STOP_SECONDS - 1
            time.sleep(2.5)  # longer than the first restart pause
            assert not _processors(served.process.pid)
        served.process.terminate()
        output = _stopped(served.process, 30, served.data_dir)
    assert f"did not finish within {STOP_SECONDS:.0f} s of the stop" in output
    assert "the processing process stopped (it was asked to)" in output
    assert "the processing process ended" not in output


def test_oversized_request_heads_are_refused(server):
    host, port = server.base.removeprefix("http://").split(":")
    head = b"GET /xapi/about HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(head)
        assert raw.recv(100).startswith(b"HTTP/1.1 431 ")
    too_long = requests.get(server.base + "/xapi/about?q=" + "a" * 100_000, timeout=10)
    assert too_long.status_code == 414


def test_requests_do_not_carry_the_process_environment():
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return []

    app = without_process_environment(inner, frozenset({"LRS_CONNECTOR_SECRET_KEY", "HOME",
                                                        "PATH_INFO", "HTTP_PROXY"}))
    app({"LRS_CONNECTOR_SECRET_KEY": "s3cret", "HOME": "/root", "PATH_INFO": "/xapi/about",
         "HTTP_PROXY": "from the request", "REQUEST_METHOD": "GET"}, None)
    assert seen == {"PATH_INFO": "/xapi/about", "HTTP_PROXY": "from the request",
                    "REQUEST_METHOD": "GET"}


def test_sigterm_while_the_web_processes_start(database_url, tmp_path):
    """Granian may stop a worker it has just forked; the stop must not wait for the kill."""
    env = _environment(database_url, tmp_path, free_port())
    for delay in (0.5, 1.0, 1.5):
        process = subprocess.Popen([sys.executable, "-m", "lrs_connector", "serve"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(delay)
        started = time.monotonic()
        process.terminate()
        output = _stopped(process, 60, tmp_path)
        _assert_stopped_without_the_kill(time.monotonic() - started, output)
