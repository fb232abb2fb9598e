"""Instructions per statement for intake and for processing, counted by valgrind's callgrind.

On a shared 2-core VM the wall-clock figures of the other benches drift by about 30% from one
minute to the next, so two builds timed an hour apart cannot be compared. Instructions can:
callgrind counts them the same whatever else the machine does (two runs of one build differ by
about 0.05%). Use this to judge a change to intake or processing; use the other benches for
the targets, which are in statements per second.

    python bench/instructions.py [--batches 8] [--warm-up 4]

Three runs of the same workload (`bench/readiness.py`'s statements: 500 a batch over 2,000
learners, the embedded SQLite default) under callgrind: set-up and warm-up only; plus intake
of the measured batches; plus their processing (one batch after another, in this process, as
`lrs-connector process` does). The differences, divided by the statements, are the figures.
Statement ids and hashing are made deterministic so the runs do the same work. Needs valgrind
(Debian: apt-get install valgrind); each run takes a minute or two.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

STAGES = ("set-up", "intake", "processing")


def _workload(stage: str, batches: int, warm_up: int) -> None:
    """What each run does: the set-up and warm-up always, then the measured stages up to
    `stage`."""
    rng = random.Random(1)
    uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # same ids every run

    import readiness  # bench/ is the script folder, first on sys.path

    from lrs_connector import memory, processing
    from lrs_connector.intake.service import Intake
    from lrs_connector.store import database
    from lrs_connector.store.holders import SOURCES

    with tempfile.TemporaryDirectory() as folder:
        settings, engine = readiness._engine(Path(folder))
        with database.write(engine) as conn:
            source, _ = SOURCES.add(conn, "bench")
        intake = Intake.from_settings(engine, settings)
        payloads = [readiness._statements(b, 500, 2_000) for b in range(warm_up + batches)]
        for payload in payloads[:warm_up]:
            intake.post(source, payload, "1.0.3")
            processing.process_batch(engine, 500)
        memory.tune_for_throughput()
        if stage in ("intake", "processing"):
            for payload in payloads[warm_up:]:
                intake.post(source, payload, "1.0.3")
        if stage == "processing":
            for _ in payloads[warm_up:]:
                processing.process_batch(engine, 500)
        engine.dispose()


def _count(stage: str, batches: int, warm_up: int, out: Path) -> int:
    command = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out / stage}",
        sys.executable, __file__, "--stage", stage,
        "--batches", str(batches), "--warm-up", str(warm_up),
    ]
    run = subprocess.run(command, capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected\s*:\s*([\d,]+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"the {stage} run failed:\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="measured batches of 500")
    parser.add_argument("--warm-up", type=int, default=4, help="batches stored and processed first")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # one run, inside
    args = parser.parse_args()
    if args.stage:
        _workload(args.stage, args.batches, args.warm_up)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(2) as pool:
        counted = dict(zip(STAGES, pool.map(
            lambda stage: _count(stage, args.batches, args.warm_up, Path(folder)), STAGES),
            strict=True))
    statements = args.batches * 500
    intake = (counted["intake"] - counted["set-up"]) / statements
    processing = (counted["processing"] - counted["intake"]) / statements
    print(f"instructions per statement ({args.batches} batches of 500 after {args.warm_up} "
          f"warm-up batches; callgrind): intake {intake / 1e3:,.0f} K, processing "
          f"{processing / 1e3:,.0f} K (whole runs: "
          + ", ".join(f"{stage} {n / 1e6:,.0f} M" for stage, n in counted.items()) + ")")


if __name__ == "__main__":
    main()
