"""Intake throughput on the embedded default, measured against the raw limit.

Starts `lrs-connector serve` (granian, SQLite in a temporary folder, embedded processor on),
then measures:
  1. single-statement POSTs from 8 concurrent clients (statements/s, p50/p99 latency), with
     wrk as the load generator when it is installed (`apt-get install wrk`): Python clients
     cost as much CPU as the server on a 2-core machine and would measure themselves;
  2. 500-statement batches (statements/s stored), and in how many web processes the clients'
     connections landed: a connection stays with the process that accepted it, and two in
     one process share its interpreter lock (about one core);
  3. the raw limit: orjson parse + one-transaction SQLite insert of the same statements,
     and prints our batch throughput as a fraction of it.

    python bench/ingest.py [--single 20000] [--batches 100] [--clients 8]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import multiprocessing
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson


def make_statement(i: int) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {
            "objectType": "Agent",
            "name": f"Learner {i % 500}",
            "account": {"homePage": "https://moodle.example.org", "name": str(i % 500)},
        },
        "verb": {
            "id": "http://adlnet.gov/expapi/verbs/completed",
            "display": {"en-US": "completed"},
        },
        "object": {
            "objectType": "Activity",
            "id": f"https://moodle.example.org/course/{i % 40}",
            "definition": {
                "name": {"en-US": "Finance for L&D leaders"},
                "description": {"en-US": "Budgets, business cases and ROI for L&D managers"},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
        "result": {
            "score": {"scaled": 0.82, "raw": 82, "min": 0, "max": 100},
            "success": True,
            "completion": True,
            "duration": "PT41M12S",
        },
        "context": {
            "registration": str(uuid.uuid4()),
            "contextActivities": {
                "parent": [{"id": "https://moodle.example.org/program/lnd-leadership"}],
                "grouping": [{"id": "https://moodle.example.org/category/leadership"}],
            },
            "platform": "Moodle 4.4",
            "language": "en-US",
            "extensions": {"https://moodle.example.org/xapi/extensions/attempt": 2},
        },
        "timestamp": "2026-11-20T10:00:00.000Z",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    env = dict(
        os.environ,
        LRS_CONNECTOR_DATA_DIR=data_dir,
        LRS_CONNECTOR_PORT=str(port),
        LRS_CONNECTOR_LOG_LEVEL="WARNING",
    )
    env.pop("LRS_CONNECTOR_DATABASE_URL", None)
    cli = [sys.executable, "-m", "lrs_connector"]
    added = subprocess.run(
        [*cli, "sources", "add", "bench"], env=env, capture_output=True, text=True, check=True
    ).stdout
    key = re.search(r"key (src_\w+)", added).group(1)
    secret = re.search(r"secret\s+(\S+)", added).group(1)
    server = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/xapi/about")
            conn.getresponse().read()
            break
        except OSError:
            time.sleep(0.05)
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    return server, port, auth


def _client(args) -> tuple[list[float], int | None]:
    port, auth, bodies, server_pid = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {
        "Authorization": auth,
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
    }
    latencies = []
    web_process = None
    for body in bodies:
        started = time.perf_counter()
        conn.request("POST", "/xapi/statements", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        latencies.append(time.perf_counter() - started)
        if web_process is None:
            web_process = web_process_of(server_pid, port, conn.sock.getsockname()[1])
    return latencies, web_process


def web_process_of(server_pid: int, server_port: int, client_port: int) -> int | None:
    """Which of serve's web processes holds the connection from ``client_port`` (Linux /proc):
    a connection stays with the process that accepted it, so with two clients the batch
    figure depends on whether they landed in one process or in two."""
    try:
        inode = next(
            fields[9]
            for fields in (line.split() for line in Path("/proc/net/tcp").read_text()
                           .splitlines()[1:])
            if int(fields[1].split(":")[1], 16) == server_port
            and int(fields[2].split(":")[1], 16) == client_port
        )
        for task in Path(f"/proc/{server_pid}/task").iterdir():
            for web in (task / "children").read_text().split():
                for fd in Path(f"/proc/{web}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) == f"socket:[{inode}]":
                            return int(web)
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return None


def run_clients(port: int, auth: str, bodies: list[bytes], clients: int, server_pid: int = 0):
    shares = [bodies[i::clients] for i in range(clients)]
    with multiprocessing.Pool(clients) as pool:
        started = time.perf_counter()
        results = pool.map(_client, [(port, auth, share, server_pid) for share in shares])
        elapsed = time.perf_counter() - started
    placed = [web for _, web in results]
    return elapsed, [x for r, _ in results for x in r], placed


WRK_SCRIPT = """
local counter = 0
local threads = 0
setup = function(thread) thread:set("tid", threads); threads = threads + 1 end
request = function()
  counter = counter + 1
  local id = string.format("%08x-0000-4000-8000-%012x", tid, counter)
  return wrk.format("POST", "/xapi/statements", HEADERS, PREFIX .. id .. SUFFIX)
end
local failures = 0
response = function(status) if status ~= 200 then failures = failures + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f %d %d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""


def run_wrk(port: int, auth: str, clients: int, seconds: int) -> None:
    body = orjson.dumps(make_statement(0)).decode()
    statement = orjson.loads(body)
    statement["id"] = "@ID@"
    prefix, suffix = orjson.dumps(statement).decode().split("@ID@")
    script = (
        f"HEADERS = {{['Content-Type']='application/json', "
        f"['X-Experience-API-Version']='1.0.3', ['Authorization']='{auth}'}}\n"
        f"PREFIX = [==[{prefix}]==]\nSUFFIX = [==[{suffix}]==]\n" + WRK_SCRIPT
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    base = ["wrk", "-t2", f"-c{clients}", "-s", handle.name, f"http://127.0.0.1:{port}"]
    subprocess.run([*base[:-1], "-d2s", base[-1]], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        [*base[:-1], f"-d{seconds}s", base[-1]], capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    _, n, elapsed, p50, p99, bad_status, socket_errors = line.split()
    print(
        f"single POSTs (wrk), {clients} clients, {seconds} s: "
        f"{int(n) / float(elapsed):,.0f} statements/s; latency p50 {float(p50):.1f} ms, "
        f"p99 {float(p99):.1f} ms; non-200 answers {bad_status}, socket errors {socket_errors}"
    )


def drain(data_dir: str, phase: str) -> None:
    """Print what the embedded processor had not processed yet when the load stopped and how
    long it took to catch up, so each phase starts with an empty queue."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'lrs-connector.db')}?mode=ro", uri=True)
    try:
        started = time.perf_counter()
        queued = depth = db.execute("SELECT COUNT(*) FROM processing_queue").fetchone()[0]
        while depth and time.perf_counter() - started < 300:
            time.sleep(0.1)
            depth = db.execute("SELECT COUNT(*) FROM processing_queue").fetchone()[0]
    finally:
        db.close()
    waited = time.perf_counter() - started
    print(f"   after the {phase}: {queued:,} statements queued for processing, "
          + (f"all processed {waited:.1f} s later" if not depth else f"{depth:,} left after 300 s"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_limit(batches: list[bytes], data_dir: str) -> float:
    db = sqlite3.connect(os.path.join(data_dir, "raw.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE s (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    count = 0
    started = time.perf_counter()
    for body in batches:
        statements = orjson.loads(body)
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO s VALUES (?, ?)",
            [(s["id"], orjson.dumps(s).decode()) for s in statements],
        )
        db.execute("COMMIT")
        count += len(statements)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--single",
        type=int,
        default=20_000,
        help="statements for the Python clients (when wrk is missing)",
    )
    parser.add_argument("--seconds", type=int, default=15, help="wrk run length")
    parser.add_argument(
        "--python-clients",
        action="store_true",
        help="use Python clients even when wrk is installed",
    )
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch-clients", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        server, port, auth = start_server(data_dir)
        try:
            if shutil.which("wrk") and not args.python_clients:
                run_wrk(port, auth, args.clients, args.seconds)
            else:
                singles = [orjson.dumps(make_statement(i)) for i in range(args.single)]
                run_clients(port, auth, singles[:400], args.clients)  # warm-up
                elapsed, latencies, _ = run_clients(port, auth, singles[400:], args.clients)
                n = len(latencies)
                print(
                    f"single POSTs (Python clients), {args.clients} clients: "
                    f"{n / elapsed:,.0f} statements/s; "
                    f"latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
                    f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
                    f"mean {statistics.mean(latencies) * 1000:.1f} ms"
                )
            drain(data_dir, "single POSTs")

            batches = [
                orjson.dumps(
                    [make_statement(b * args.batch_size + i) for i in range(args.batch_size)]
                )
                for b in range(args.batches)
            ]
            elapsed, latencies, placed = run_clients(
                port, auth, batches, args.batch_clients, server.pid
            )
            ours = args.batches * args.batch_size / elapsed
            spread = (f"{len(set(placed))} web process(es)" if None not in placed
                      else "web processes unknown")
            print(
                f"{args.batch_size}-statement batches, {args.batch_clients} clients: "
                f"{ours:,.0f} statements/s stored; batch p50 "
                f"{percentile(latencies, 0.5) * 1000:.0f} ms, p99 "
                f"{percentile(latencies, 0.99) * 1000:.0f} ms; connections in {spread}"
            )
            drain(data_dir, "batches")
        finally:
            server.terminate()
            server.wait(timeout=30)
        limit = raw_limit(batches, data_dir)
        print(
            f"raw limit (orjson parse + one-transaction SQLite insert): {limit:,.0f} statements/s"
        )
        print(f"batch intake at {ours / limit:.0%} of the raw limit")


if __name__ == "__main__":
    main()
