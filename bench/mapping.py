"""Benchmark: statements mapped to evidence per second, and a replay of N stored statements.

Run: .venv/bin/python bench/mapping.py [--statements 20000] [--replay 1000000] [--database URL]

The mapping set has 100 rules: the bundled ones plus generated ones (verbs, activity id
prefixes, score and extension predicates) in the shape analysts write. Statements are the demo
statements spread over 2,000 learners plus statements for the generated rules.

1. processing: statements stored and queued, then the processing loop (learner resolution,
   matching, bulk evidence writes, one transaction per batch of 500) on one core, timed alone.
   Only the mapping handler runs (the issue's figure); `--all-handlers` times the whole chain
   of `processing.HANDLERS` (readiness scoring too).
2. replay: N stored statements mapped again under a new version, streamed in pages; time and
   peak memory (max RSS of this process). Target (issue 4): 10,000 statements/s mapped;
   1,000,000 replayed in under 5 minutes with memory under 500 MB.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lrs_connector import demo, processing
from lrs_connector.mapping import bundled
from lrs_connector.store import database, evidence, schema
from lrs_connector.store import mapping as mapping_store
from lrs_connector.store import statements as store
from lrs_connector.xapi.records import prepare

C = "https://lrs-connector.dev/frameworks/lnd-leadership/competencies/"
ADL = "http://adlnet.gov/expapi/verbs/"
GENERATED_VERBS = [ADL + v for v in ("experienced", "attempted", "scored", "answered")]


def rules_text(total: int = 100) -> str:
    text = bundled.bundled_text()
    bundled_count = text.count("\n  - id: ")
    extra = []
    for i in range(total - bundled_count):
        verb = GENERATED_VERBS[i % len(GENERATED_VERBS)]
        extra.append(
            f"""
  - id: generated-{i}
    description: "generated rule {i}"
    match:
      verb: {verb}
      activity_id_prefix: https://lms.example.org/catalog/{i % 17}/
      score: {{scaled_min: 0.{i % 9}}}
    targets:
      - {{target: {C}learning-design, kind: knowledge, weight: 0.5}}
      - {{target: {C}delivery-management, kind: knowledge, weight: 0.25}}
"""
        )
    return text + "".join(extra)


def make_statements(count: int, now: datetime) -> list[dict]:
    base = demo.statements(now)
    out = []
    for i in range(count):
        if i % 3 == 2:
            s = {
                "actor": {"objectType": "Agent", "mbox": f"mailto:p{i % 2000}@example.org"},
                "verb": {"id": GENERATED_VERBS[i % 4]},
                "object": {"id": f"https://lms.example.org/catalog/{i % 17}/item/{i % 50}"},
                "result": {"score": {"scaled": (i % 10) / 10}},
                "timestamp": (now - timedelta(minutes=i)).isoformat(),
            }
        else:
            s = dict(base[i % len(base)])
            s["actor"] = {
                "objectType": "Agent",
                "account": {"homePage": demo.SITE, "name": f"learner-{i % 2000}"},
            }
        s["id"] = str(uuid.uuid4())
        out.append(s)
    return out


def store_statements(engine, count: int, chunk: int = 5000, queue: bool = True) -> None:
    now = datetime.now(UTC)
    for start in range(0, count, chunk):
        batch = make_statements(min(chunk, count - start), now)
        records = [prepare(s, stored=now, authority=None, default_version="1.0.3") for s in batch]
        with database.write(engine) as conn:
            store.insert(conn, records, source_id=None, via="bench", received_at=now)
            if not queue:
                conn.exec_driver_sql("DELETE FROM processing_queue")


def fresh_engine(url: str | None, folder: str):
    engine = database.create_engine(url or f"sqlite:///{Path(folder) / 'bench.db'}")
    schema.upgrade(engine)
    return engine


def publish(engine) -> tuple[int, object]:
    with database.write(engine) as conn:
        version = mapping_store.import_version(
            conn, rules_text(), "bench", datetime.now(UTC), publish=True
        )
        mapper = mapping_store.mapper(conn, version)
    return version, mapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--replay", type=int, default=1_000_000)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--all-handlers", action="store_true", help="Time every processing handler, not mapping."
    )
    args = parser.parse_args()
    if not args.all_handlers:
        processing.HANDLERS[:] = [processing.map_to_evidence]
    handlers = ", ".join(h.__name__ for h in processing.HANDLERS)
    with tempfile.TemporaryDirectory() as folder:
        engine = fresh_engine(args.database, folder)
        version, mapper = publish(engine)
        print(f"mapping: {len(mapper.rules)} rules (version {version})")
        store_statements(engine, args.statements)
        started = time.perf_counter()
        done = processing.run(
            engine, batch_size=500, idle_seconds=0.01, stop=threading.Event(), once=True
        )
        elapsed = time.perf_counter() - started
        with database.read(engine) as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM evidence").scalar_one()
        print(
            f"processing: {done:,} statements in {elapsed:.2f}s = {done / elapsed:,.0f} "
            f"statements/s ({rows:,} evidence rows written; handlers: {handlers})"
        )
        engine.dispose()

    if args.replay:
        with tempfile.TemporaryDirectory() as folder:
            engine = fresh_engine(args.database, folder)
            started = time.perf_counter()
            store_statements(engine, args.replay, queue=False)
            print(
                f"replay: stored {args.replay:,} statements in "
                f"{time.perf_counter() - started:.0f}s (setup, not timed)"
            )
            version, mapper = publish(engine)
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            started = time.perf_counter()
            # the evidence replay the issue times; rescoring readiness is bench/readiness.py's
            result = evidence.replay(engine, mapper, version, page_size=2000, rescore=False)
            elapsed = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"replay: {result['statements']:,} statements in {elapsed:.1f}s = "
                f"{result['statements'] / elapsed:,.0f}/s, {result['evidence_rows']:,} evidence "
                f"rows; peak RSS {peak:.0f} MB (before the replay {rss_before:.0f} MB)"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
