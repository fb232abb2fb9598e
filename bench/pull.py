"""Pulling from an LRS, end to end: a local LRS serving N statements in pages with `more`,
the connector pulling them into the store (validation, deduplication, queue), then the
processing loop turning them into evidence (when the mapping stage is present).

The LRS is a small http.server on 127.0.0.1 in another process, answering like a conformant
LRS (`{"statements": [...], "more": "<relative link>"}`, pages prepared in advance so that
the connector, not the fake, is measured). Statements are the demo statements (they speak the
bundled profile, so the bundled mapping turns them into evidence) with fresh ids, spread over
`--learners` people (an organisation's LRS: 100,000 statements from 2,000 people, 50 each).
`--learners 5` keeps the demo's five people (20,000 statements each), which shows the cost
of readiness rescoring a cell from all its evidence on every batch (see docs/scoring.md).

Processing runs in a worker process alongside the pull, as a deployment that pulls a large
backlog runs `lrs-connector pull` and `lrs-connector process` side by side (threads in one
process would share one core); `--sequential` pulls everything first, then processes.

    python bench/pull.py [--statements 100000] [--learners 2000] [--page-size 1000]
                         [--database-url URL] [--sequential]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker import Worker  # bench/ is the script folder, first on sys.path


def make_statements(n: int, learners: int = 2000) -> list[dict]:
    from lrs_connector.demo import statements as demo_statements

    templates = demo_statements()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        s = orjson.loads(orjson.dumps(templates[i % len(templates)]))
        s["id"] = str(uuid.uuid4())
        who = i % learners
        s["actor"] = {"objectType": "Agent", "name": f"Learner {who}",
                      "account": {"homePage": "https://moodle.example.org", "name": f"u{who}"}}
        s["stored"] = (start + timedelta(milliseconds=i)).isoformat()
        s.setdefault("authority", {"mbox": "mailto:lrs@example.org", "objectType": "Agent"})
        if s.get("verb", {}).get("id") == "http://adlnet.gov/expapi/verbs/voided":
            s["object"]["id"] = out[max(0, i - 3)]["id"] if out else s["object"]["id"]
        out.append(s)
    return out


def serve_lrs(port: int, n: int, page_size: int, ready, learners: int = 2000) -> None:
    statements = make_statements(n, learners)
    pages = {}
    for number, start in enumerate(range(0, n, page_size)):
        body = {"statements": statements[start : start + page_size]}
        if start + page_size < n:
            body["more"] = f"/xapi/statements?page={number + 1}"
        pages[number] = orjson.dumps(body)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            page = 0
            if "page=" in self.path:
                page = int(self.path.rsplit("page=", 1)[1])
            body = pages.get(page, b'{"statements": []}')
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=100_000)
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--batch-size", type=int, default=0,
        help="statements per processing transaction (default: the setting, 500)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="pull everything first, then process (one process) instead of a worker alongside",
    )
    args = parser.parse_args()

    from lrs_connector import memory, processing
    from lrs_connector.intake.pull import Puller
    from lrs_connector.settings import load_settings
    from lrs_connector.store import database, schema
    from lrs_connector.store import pull as pull_store

    folder = tempfile.mkdtemp(prefix="bench-pull-")
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    settings = load_settings(environ={}, overrides={"database_url": url, "data_dir": folder})
    engine = database.create_engine(url)
    schema.upgrade(engine)
    mapped = publish_bundled_mapping(engine)

    port = free_port()
    ready = multiprocessing.Event()
    lrs = multiprocessing.Process(
        target=serve_lrs,
        args=(port, args.statements, args.page_size, ready, args.learners),
        daemon=True,
    )
    t = time.perf_counter()
    lrs.start()
    ready.wait(120)
    print(f"local LRS ready with {args.statements:,} statements ({time.perf_counter() - t:.1f} s)")

    with database.write(engine) as conn:
        source = pull_store.add(
            conn,
            "bench",
            f"http://127.0.0.1:{port}/xapi/",
            page_size=min(args.page_size, 10_000),
            timeout_seconds=60,
        )
    puller = Puller.from_settings(engine, settings)
    batch_size = args.batch_size or settings.process_batch_size
    memory.tune_for_throughput()  # as `lrs-connector pull` does
    alongside = args.sequential is False
    with Worker(url, batch_size) if alongside else nullcontext() as worker:
        start = time.perf_counter()
        result = puller.pull(source.id)
        pulled = time.perf_counter() - start
        assert result.error is None, result.error
        t = time.perf_counter()
        if worker is None:
            processed = processing.run(
                engine, batch_size=batch_size, idle_seconds=0.01,
                stop=threading.Event(), once=True,
            )
        else:
            worker.drain(engine)
            processed = result.stored
        processing_seconds = time.perf_counter() - t
        total = time.perf_counter() - start
    lrs.terminate()

    evidence_rows = count_evidence(engine)
    print(f"database: {engine.dialect.name}; page size {args.page_size}; cores {os.cpu_count()}")
    print(
        f"pull into the store: {result.received:,} statements ({result.stored:,} new, "
        f"{result.quarantined} quarantined) in {pulled:.2f} s = "
        f"{result.received / pulled:,.0f} statements/s ({result.pages} pages)"
        + ("" if worker is None else ", a processing worker running alongside")
    )
    if worker is None:
        print(
            f"processing: {processed:,} queue entries in {processing_seconds:.2f} s = "
            f"{processed / processing_seconds:,.0f}/s"
        )
    else:
        print(f"processing: the queue was empty {processing_seconds:.2f} s after the pull ended")
    if mapped:
        print(f"evidence rows: {evidence_rows:,}")
    print(
        f"end to end (pull + processing into evidence): {result.received / total:,.0f} "
        f"statements/s (target >= 5,000)"
    )
    engine.dispose()


def publish_bundled_mapping(engine) -> bool:
    """Publish the bundled mapping when the mapping stage exists (built in parallel)."""
    try:
        from lrs_connector.mapping.bundled import bundled_text
        from lrs_connector.store import mapping
    except ImportError:
        return False
    from lrs_connector.store import database

    with database.write(engine) as conn:
        mapping.import_version(conn, bundled_text(), "bench", datetime.now(UTC), publish=True)
    return True


def count_evidence(engine) -> int:
    import sqlalchemy as sa

    from lrs_connector.store.tables import metadata

    table = metadata.tables.get("evidence")
    if table is None:
        return 0
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


if __name__ == "__main__":
    main()
