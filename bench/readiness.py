"""Readiness speed on the embedded default (SQLite in a temporary folder). Prints figures:

  1. one learner with 10,000 evidence rows: rescored after new evidence (the processing path,
     target ≤ 20 ms), scored for its page from stored cells, and from scratch (every row);
  2. full recompute of 50,000 learners x 30 competencies, evidence rows generated directly in
     the database (target ≤ 2 minutes);
  3. end to end: intake of 500-statement batches → mapping to evidence → readiness → outbox,
     with a processing worker process alongside intake as deployed (target ≥ 5,000
     statements/s), then the cost of each stage per statement, run one after the other;
     three runs on new databases, and their median.

    python bench/readiness.py [--learners 50000] [--competencies 30] [--batches 40]
                              [--rounds 3] [--only 1|2|3] [--without-console-indexes]

`--without-console-indexes` drops the audit console's four statement indexes
(store/audit_tables.py) before part 3, to show what keeping them costs intake: the demo
statements' timestamps recur out of arrival order, so every batch writes index pages all over.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker import Worker  # bench/ is the script folder, first on sys.path

from lrs_connector import demo, memory, processing
from lrs_connector.frameworks.documents import load_bundled
from lrs_connector.readiness import EvidenceItem
from lrs_connector.settings import load_settings
from lrs_connector.store import database, schema
from lrs_connector.store import readiness as store

NOW = datetime.now(UTC)


def _engine(folder: Path):
    settings = load_settings(
        environ={}, overrides={"data_dir": str(folder), "log_format": "text"}
    )
    engine = database.create_engine(settings.resolved_database_url)
    schema.upgrade(engine)
    return settings, engine


def _targets(count: int) -> list[str]:
    framework = load_bundled()
    found = sorted(c.iri for c in framework.competencies.values() if c.parent is not None)
    found += sorted(c.iri for c in framework.competencies.values() if c.parent is None)
    found += sorted(framework.dimensions)
    return (found * (count // len(found) + 1))[:count]


def _row(rnd: random.Random, learner: int, target: str, n: int) -> tuple:
    moment = NOW - timedelta(seconds=rnd.randrange(3 * 365 * 86_400))
    negative = rnd.random() < 0.1
    return (
        f"{learner:08d}-{n:08d}",
        str(uuid.UUID(int=rnd.getrandbits(128))),
        learner,
        "alias",
        f"rule-{n % 20}",
        1,
        target,
        rnd.choice((0.5, 1.0, 1.5)),
        "negative" if negative else "positive",
        rnd.choice(("knowledge", "practice", "feedback")),
        rnd.choice((0.6, 0.7, 0.8, 0.9)),
        moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
        None if rnd.random() < 0.7 else (moment + timedelta(days=540)).replace(tzinfo=None)
        .strftime("%Y-%m-%d %H:%M:%S.%f"),
        NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
        0,
    )


def _insert(engine, learners: range, rows) -> None:
    with database.write(engine) as conn:
        cursor = conn.connection.cursor()
        cursor.executemany(
            "INSERT INTO learners (id, name, created_at) VALUES (?, ?, ?)",
            [(i, f"L{i}", NOW.replace(tzinfo=None).isoformat(" ")) for i in learners],
        )
        cursor.executemany(
            "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
            "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
            "valid_until, created_at, retracted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        cursor.close()


def one_learner(folder: Path, count: int) -> None:
    _, engine = _engine(folder)
    rnd = random.Random(1)
    targets = _targets(30)
    rows = [_row(rnd, 1, targets[n % len(targets)], n) for n in range(count)]
    _insert(engine, range(1, 2), rows)
    items = [
        EvidenceItem(r[0], r[1], r[6], r[4], r[5], r[7], r[8], r[9], r[10],
                     datetime.fromisoformat(r[11]).replace(tzinfo=UTC),
                     datetime.fromisoformat(r[12]).replace(tzinfo=UTC) if r[12] else None)
        for r in rows
    ]
    with database.read(engine) as conn:
        scorer = store.scorer(conn)
    store.recompute_all(engine, now=NOW)  # the stored cells a running connector has
    pure, stored, rescore, page = [], [], [], []
    for n in range(20):
        started = time.perf_counter()
        scorer.readiness(items, NOW)
        pure.append(time.perf_counter() - started)
        started = time.perf_counter()
        with database.read(engine) as conn:
            store.learner_readiness(conn, 1, NOW)
        stored.append(time.perf_counter() - started)
        # What a processing batch does for this learner: one new piece of evidence in one
        # cell, the learner rescored from its stored cells, roles, snapshots and outbox written.
        fresh = _row(rnd, 1, targets[n % len(targets)], count + n)
        _insert_evidence(engine, [fresh])
        with database.write(engine) as conn:
            first = conn.exec_driver_sql(
                "SELECT MIN(id) FROM evidence WHERE key = ?", (fresh[0],)).scalar()
            started = time.perf_counter()
            store.update(conn, {1: {fresh[6]}}, NOW, first_new={(1, fresh[6]): first})
            rescore.append(time.perf_counter() - started)
        started = time.perf_counter()
        with database.read(engine) as conn:
            store.learner_readiness(conn, 1, NOW, strongest=10)
        page.append(time.perf_counter() - started)
    ms = lambda found: f"{statistics.median(found) * 1000:.1f} ms"  # noqa: E731
    print(
        f"1. one learner, {count:,} evidence rows (median of 20):\n"
        f"   rescored after new evidence (stored cells + the new rows; what every processing "
        f"batch does): {ms(rescore)} (target ≤ 20 ms)\n"
        f"   scores + the 10 strongest items per target from stored cells (the learner page): "
        f"{ms(page)}\n"
        f"   from scratch, every row summed again (after a model change): scoring {ms(pure)}, "
        f"read + score {ms(stored)}"
    )
    engine.dispose()


def _insert_evidence(engine, rows) -> None:
    with database.write(engine) as conn:
        conn.connection.cursor().executemany(
            "INSERT INTO evidence (key, statement_id, learner_id, alias, rule_id, "
            "mapping_version, target, weight, polarity, kind, confidence, timestamp, "
            "valid_until, created_at, retracted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


def full_recompute(folder: Path, learners: int, competencies: int) -> None:
    _, engine = _engine(folder)
    rnd = random.Random(2)
    targets = _targets(competencies)
    started = time.perf_counter()
    chunk = 5_000
    for first in range(1, learners + 1, chunk):
        ids = range(first, min(first + chunk, learners + 1))
        _insert(engine, ids, [
            _row(rnd, learner, target, n)
            for learner in ids for n, target in enumerate(targets)
        ])
    print(f"   (generated {learners * competencies:,} evidence rows in "
          f"{time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    outcome = store.recompute_all(engine, now=NOW)
    first_run = time.perf_counter() - started
    started = time.perf_counter()
    store.recompute_all(engine, now=NOW)
    second_run = time.perf_counter() - started
    print(
        f"2. full recompute, {outcome.learners:,} learners x {competencies} competencies: "
        f"{first_run:.1f} s from empty, {second_run:.1f} s again (target ≤ 120 s)"
    )
    engine.dispose()


def _statements(batch: int, size: int, learners: int) -> list[dict]:
    template = demo.statements(NOW)
    out = []
    for n in range(size):
        statement = dict(template[(batch * size + n) % len(template)])
        who = (batch * size + n) % learners
        statement["id"] = str(uuid.uuid4())
        statement["actor"] = {"objectType": "Agent", "name": f"Learner {who}",
                              "account": {"homePage": demo.SITE, "name": f"bench-{who}"}}
        out.append(statement)
    return out


# The audit console's statement indexes (store/audit_tables.py) that every stored statement adds
# an entry to; the partial one on voided statements is left (it holds only those).
CONSOLE_INDEXES = ("ix_statements_timestamp_seq", "ix_statements_verb_timestamp_seq",
                   "ix_statements_object_timestamp_seq", "ix_statements_source_id_timestamp_seq")


def end_to_end(folder: Path, batches: int, learners: int, console_indexes: bool = True) -> float:
    """Intake posts batches while a processing worker runs alongside (as `serve` with a
    processor, or `lrs-connector process`, does); the clock stops when the last statement's
    readiness is in the outbox. Then the same work one stage after the other, per statement."""
    from lrs_connector.intake.service import Intake
    from lrs_connector.store.holders import SOURCES

    settings, engine = _engine(folder)
    with database.write(engine) as conn:
        source, _ = SOURCES.add(conn, "bench")
        for name in () if console_indexes else CONSOLE_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    intake = Intake.from_settings(engine, settings)
    payloads = [_statements(b, 500, learners) for b in range(2 * batches + 3)]
    memory.tune_for_throughput()  # as `serve` does in each web process
    with Worker(settings.resolved_database_url, 500) as worker:
        # Warm-up, in both processes: the mapping version and its compiled rules, the
        # framework and scorer. A deployed worker runs for days; its first batch after start
        # (about 0.3 s more here) is not what this measures.
        for payload in payloads[:2]:
            intake.post(source, payload, "1.0.3")
        worker.drain(engine)
        started = time.perf_counter()
        for payload in payloads[2 : batches + 2]:
            intake.post(source, payload, "1.0.3")
        worker.drain(engine)
        elapsed = time.perf_counter() - started
    with database.read(engine) as conn:
        evidence = conn.exec_driver_sql("SELECT COUNT(*) FROM evidence").scalar()
        messages = conn.exec_driver_sql("SELECT COUNT(*) FROM outbox").scalar()
    total = batches * 500
    print(
        f"3. end to end, {batches} batches of 500 over {learners:,} learners, a processing "
        f"worker alongside intake{'' if console_indexes else ' (without the console indexes)'}: "
        f"{total / elapsed:,.0f} statements/s ({evidence:,} evidence "
        f"rows, {messages:,} outbox entries; handlers: "
        f"{', '.join(h.__name__ for h in processing.HANDLERS)}; target ≥ 5,000/s)"
    )
    intake.post(source, payloads[batches + 2], "1.0.3")
    processing.process_batch(engine, 500)  # this process's own warm-up
    took = {"intake": 0.0, "processing": 0.0}
    kernel = dict.fromkeys(took, 0.0)  # CPU time in the kernel: SQLite's reads and writes
    stages = {"intake": lambda payload: intake.post(source, payload, "1.0.3"),
              "processing": lambda payload: processing.process_batch(engine, 500)}
    for payload in payloads[batches + 3 :]:
        for stage, run in stages.items():
            t, k = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
            run(payload)
            took[stage] += time.perf_counter() - t
            kernel[stage] += resource.getrusage(resource.RUSAGE_SELF).ru_stime - k
    print(
        "   one stage after the other, per statement: "
        + ", ".join(f"{stage} {seconds / total * 1e6:.0f} µs (kernel "
                    f"{kernel[stage] / total * 1e6:.0f})" for stage, seconds in took.items())
        + f" ({total / sum(took.values()):,.0f} statements/s in one process)"
    )
    engine.dispose()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--competencies", type=int, default=30)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--e2e-learners", type=int, default=2_000)
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="end-to-end runs, each on a new database; the median is the figure (on a shared "
             "2-core VM one run can be 20%% off the next)",
    )
    parser.add_argument(
        "--only", type=int, choices=(1, 2, 3), help="run one of the three measurements"
    )
    parser.add_argument(
        "--without-console-indexes", action="store_true",
        help="part 3 without the audit console's statement indexes (what they cost intake)",
    )
    args = parser.parse_args()
    parts = {
        1: lambda folder: one_learner(folder, args.rows),
        2: lambda folder: full_recompute(folder, args.learners, args.competencies),
    }
    for number, run in parts.items():
        if args.only in (None, number):
            with tempfile.TemporaryDirectory() as folder:
                run(Path(folder))
    if args.only in (None, 3):
        rates = []
        for _ in range(max(1, args.rounds)):
            with tempfile.TemporaryDirectory() as folder:
                rates.append(end_to_end(Path(folder), args.batches, args.e2e_learners,
                                        console_indexes=not args.without_console_indexes))
        variant = " without the console indexes" if args.without_console_indexes else ""
        print(f"3. end to end{variant}, median of {len(rates)} run(s): "
              f"{statistics.median(rates):,.0f} statements/s (target ≥ 5,000/s; runs: "
              f"{', '.join(f'{rate:,.0f}' for rate in rates)})")


if __name__ == "__main__":
    main()
