"""Backfill from export files: formats, streaming, rejected statements, resumption, the CLI."""

from __future__ import annotations

import contextlib
import gzip
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector.intake import backfill as module
from lrs_connector.intake.backfill import Backfill, BackfillError, Item, ReportFile, items
from lrs_connector.intake.backfill_cli import backfill as backfill_command
from lrs_connector.intake.service import Intake
from lrs_connector.store import database
from lrs_connector.store.pull_tables import backfill_files
from lrs_connector.store.tables import quarantine, statements
from tests.builders import statement, voiding


def write(path: Path, content: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def as_array(batch: list[dict]) -> bytes:
    return orjson.dumps(batch, option=orjson.OPT_INDENT_2)


def as_ndjson(batch: list[dict]) -> bytes:
    return b"".join(orjson.dumps(s) + b"\n" for s in batch)


def stored(engine) -> dict[str, str]:
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(statements.c.id, statements.c.received_via))
        return dict(rows.all())


@pytest.fixture
def rejected() -> list[dict]:
    return []


@pytest.fixture
def make(engine, settings, rejected):
    def make(**kwargs) -> Backfill:
        return Backfill(
            engine, Intake.from_settings(engine, settings), report=rejected.append, **kwargs
        )

    return make


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encode", [as_array, as_ndjson], ids=["array", "ndjson"])
def test_every_format_is_stored_like_forwarded_statements(engine, make, tmp_path, encode, gz):
    batch = [statement() for _ in range(25)]
    path = write(tmp_path / "export", encode(batch), gz)
    [result] = make(batch_size=10).run([path])
    assert (result.read, result.stored, result.rejected) == (25, 25, 0)
    assert stored(engine) == {s["id"]: "backfill" for s in batch}


def raw_items(content: bytes) -> list[bytes]:
    return [i.raw.strip() for i in items(io.BufferedReader(io.BytesIO(content)), "f")]


def test_the_array_scanner_finds_items_whatever_their_strings_hold(monkeypatch):
    monkeypatch.setattr(module, "CHUNK_BYTES", 7)  # items and strings span chunk boundaries
    tricky = [
        {"a": "x, ] } [ {", "b": 'quote \\" inside " and \\\\'},
        {"nested": [[1, 2], {"c": [3]}], "s": "\\u005d"},
        "a string item",
        42,
        None,
    ]
    content = orjson.dumps(tricky)
    assert [orjson.loads(r) for r in raw_items(content)] == tricky


def test_an_empty_array_has_no_items():
    assert raw_items(b" [ ] ") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"   \n ", "the file is empty"),
        (b"<xml/>", "expected a JSON array of statements or NDJSON"),
        (b'[{"a": 1}, {"b": ', "ends before its closing bracket"),
    ],
)
def test_unreadable_files_are_named(make, tmp_path, content, message):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(BackfillError, match=message) as caught:
        make().run([path])
    assert str(path) in str(caught.value)


def test_a_missing_file_is_refused_before_anything_is_stored(make, tmp_path, engine):
    good = write(tmp_path / "good.ndjson", as_ndjson([statement()]))
    with pytest.raises(BackfillError, match="no such file"):
        make().run([good, tmp_path / "missing.ndjson"])
    assert stored(engine) == {}


def test_rejected_statements_are_reported_with_reasons(engine, make, tmp_path, rejected):
    bad = statement(object={"id": "course-12"})
    content = (
        orjson.dumps(statement())
        + b"\n\n{not json\n"
        + orjson.dumps(bad)
        + b"\n"
        + orjson.dumps(statement())
        + b"\n"
    )
    path = write(tmp_path / "export.ndjson", content)
    [result] = make(batch_size=2).run([path])
    assert (result.read, result.stored, result.rejected) == (4, 2, 2)
    assert rejected[0]["file"] == str(path)
    assert (rejected[0]["item"], rejected[0]["line"]) == (2, 3)
    assert rejected[0]["problems"][0]["rule"].startswith("not JSON")
    assert (rejected[1]["item"], rejected[1]["line"], rejected[1]["id"]) == (3, 4, bad["id"])
    assert rejected[1]["problems"][0]["path"] == "object.id"
    assert rejected[1]["problems"][0]["rule"].startswith("must be an absolute IRI")
    with database.read(engine) as conn:
        held = conn.execute(sa.select(quarantine.c.id, quarantine.c.statement_id)).one()
    assert rejected[1]["quarantine_id"] == held.id and held.statement_id == bad["id"]


def test_voiding_applies_across_files_in_any_order(engine, make, tmp_path):
    target = statement()
    first = write(tmp_path / "1.ndjson", as_ndjson([voiding(target["id"])]))
    second = write(tmp_path / "2.json", as_array([target]))
    make().run([first, second])
    with database.read(engine) as conn:
        voided = conn.execute(
            sa.select(statements.c.voided).where(statements.c.id == target["id"])
        ).scalar_one()
    assert voided


def test_an_interrupted_backfill_resumes_after_the_last_committed_batch(make, tmp_path, engine):
    batch = [statement() for _ in range(30)]
    path = write(tmp_path / "export.json.gz", as_array(batch), gz=True)

    def interrupt(progress):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(batch_size=10, progress=interrupt, progress_every=0).run([path])
    assert len(stored(engine)) == 10
    [result] = make(batch_size=10).run([path])
    assert (result.skipped, result.read, result.stored, result.duplicates) == (10, 20, 20, 0)
    assert set(stored(engine)) == {s["id"] for s in batch}
    [again] = make().run([path])
    assert again.already_done and again.skipped == 30
    [redo] = make().run([path], restart=True)
    assert (redo.read, redo.stored, redo.duplicates) == (30, 0, 30)


def test_progress_reports_count_rate_and_time_left(make, tmp_path):
    path = write(tmp_path / "export.ndjson", as_ndjson([statement() for _ in range(20)]))
    seen = []
    make(batch_size=5, progress=seen.append, progress_every=0).run([path])
    last = seen[-1]
    assert last.statements == 20 and last.fraction == 1.0 and last.rate > 0
    line = module.format_progress(seen[0])
    assert line.startswith("[1/1] export.ndjson: 5 statements, ") and " left" in line


def test_the_scanner_bounds_the_size_of_an_item(monkeypatch):
    monkeypatch.setattr(module, "MAX_ITEM_BYTES", 100)
    monkeypatch.setattr(module, "CHUNK_BYTES", 16)
    with pytest.raises(BackfillError, match="item 2: larger than 100 bytes"):
        raw_items(b'[{"a": 1}, {"b": "' + b"x" * 500 + b'"}]')
    assert isinstance(Item(1, None, b""), Item)


def test_the_cli_backfills_and_writes_the_report(runner, engine, tmp_path):
    good = statement()
    path = write(tmp_path / "export.ndjson", as_ndjson([good]) + b"oops\n")
    report = tmp_path / "rejected.ndjson"
    result = runner.invoke(
        backfill_command, [str(path), "--report", str(report)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert f"{path}: 2 read: 1 stored, 0 duplicate(s), 1 rejected" in result.output
    assert f"1 rejected statement(s): reasons in {report}" in result.output
    [entry] = [orjson.loads(line) for line in report.read_bytes().splitlines()]
    assert entry["line"] == 2 and "not JSON" in entry["problems"][0]["rule"]
    again = runner.invoke(backfill_command, [str(path), "--report", str(report), "--quiet"])
    assert "already backfilled (2 statements); --restart to redo" in again.output


def test_the_cli_names_an_unknown_source(runner, tmp_path):
    path = write(tmp_path / "export.ndjson", as_ndjson([statement()]))
    result = runner.invoke(
        backfill_command,
        [str(path), "--as-source", "nope", "--report", str(tmp_path / "r")],
    )
    assert result.exit_code == 1 and "no source named 'nope'" in result.output


# The real CLI in a process of its own, which sends itself a real signal at an exact point:
# just before or just after the commit of the write transaction that stored its N-th batch
# (counted by calls to Intake.store_checked, which every batch with statements makes). No
# sleeps, no environment switch in the code under test.
_INTERRUPTED_CLI = """
import os, signal, sys
from contextlib import contextmanager
from lrs_connector.cli import main
from lrs_connector.intake.service import Intake
from lrs_connector.store import database

signum, batch, moment = getattr(signal, sys.argv[1]), int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]
batches = 0
real_store, real_write = Intake.store_checked, database.write

def store_checked(*a, **k):
    global batches
    batches += 1
    return real_store(*a, **k)

@contextmanager
def write(engine):
    before = batches
    with real_write(engine) as conn:
        yield conn
        if moment == "before" and before < batches == batch:
            os.kill(os.getpid(), signum)
    if moment == "after" and before < batches == batch:
        os.kill(os.getpid(), signum)

Intake.store_checked, database.write = store_checked, write
main(["backfill", *args])
"""


def export_files(tmp_path: Path) -> tuple[list[Path], set[str], list[tuple[str, int]]]:
    """A gzip JSON array and an NDJSON file of 1,500 items each, every 50th invalid and one
    not JSON: (the files, the valid ids, the (file, item) of each rejected item)."""
    valid, rejected, files = set(), [], []
    for name, gz in (("a.json.gz", True), ("b.ndjson", False)):
        path = tmp_path / name
        raws = []
        for position in range(1, 1501):
            if position == 777:
                raws.append(b"not json")
            elif position % 50 == 0:
                raws.append(orjson.dumps(statement(object={"id": "course-12"})))
            else:
                good = statement()
                valid.add(good["id"])
                raws.append(orjson.dumps(good))
                continue
            rejected.append((str(path), position))
        content = b"[" + b",\n".join(raws) + b"]" if gz else b"\n".join(raws) + b"\n"
        files.append(write(path, content, gz))
    return files, valid, rejected


@pytest.mark.parametrize(
    ("signal", "batch", "moment", "report_option", "committed"),
    [
        # in the NDJSON file, the gzip one (8 batches) done: batch 11's rejects in flight
        ("SIGKILL", 11, "before", True, 1500 + 2 * 200),
        # in the gzip file, batch 3 just committed: its rejects must be in the report already
        ("SIGINT", 3, "after", False, 3 * 200),
    ],
    ids=["sigkill-before-commit", "sigint-after-commit"],
)
def test_an_interrupted_backfill_reports_each_rejected_item_once(
    runner, engine, tmp_path, signal, batch, moment, report_option, committed
):
    files, valid, expected = export_files(tmp_path)
    report = tmp_path / ("rejected.ndjson" if report_option else "backfill-rejected.ndjson")
    report.write_bytes(b'{"from": "an earlier backfill"}\n')  # appended to, kept
    args = [*map(str, files), "--batch-size", "200", "--quiet"]
    args += ["--report", str(report)] if report_option else []
    killed = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_CLI, signal, str(batch), moment, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == (-9 if signal == "SIGKILL" else 1), killed.stderr
    with database.read(engine) as conn:
        positions, rejects = conn.execute(
            sa.select(
                sa.func.sum(backfill_files.c.position), sa.func.sum(backfill_files.c.rejected)
            )
        ).one()
    assert positions == committed
    in_flight = len(report.read_bytes().splitlines()) - 1 - rejects
    assert in_flight == (4 if moment == "before" else 0)  # a batch holds 4 invalid statements

    resumed = subprocess.run(
        [sys.executable, "-m", "lrs_connector", "backfill", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    lines = [orjson.loads(line) for line in report.read_bytes().splitlines()]
    assert lines[0] == {"from": "an earlier backfill"}
    assert sorted((e["file"], e["item"]) for e in lines[1:]) == sorted(expected)
    assert set(stored(engine)) == valid
    with database.read(engine) as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar()
    assert held == len(expected) - 2  # all but the two items that are not JSON


def test_a_report_is_cut_back_only_to_what_an_uncommitted_batch_wrote(tmp_path):
    path = tmp_path / "rejected.ndjson"
    with ReportFile(path) as report:
        committed = report.append([{"item": 1}])
        report.append([{"item": 7}, {"item": 9}])
        with open(path, "ab") as torn:
            torn.write(b'{"item": 1')
        with pytest.raises(BackfillError, match="another backfill is writing this report"):
            ReportFile(path)
        report.cut_to(committed)
        assert path.read_bytes() == b'{"item":1}\n'
        with open(path, "ab") as edited:
            edited.write(b"a note of the user's\n")
        with pytest.raises(BackfillError, match="changed since the last backfill wrote it"):
            report.cut_to(committed)
        assert path.read_bytes().endswith(b"a note of the user's\n")


def test_a_file_resumed_with_another_report_leaves_the_first_report_whole(
    engine, settings, tmp_path
):
    """Each report keeps its own committed length: resuming a file into report B does not
    make report A forget how far its committed lines reach."""
    def bad(tag: str, n: int) -> Path:
        return write(tmp_path / f"{tag}.ndjson",
                     b"".join(b'{"tag": "%s", "i": %d}\n' % (tag.encode(), i) for i in range(n)))

    x, y, z = bad("x", 2), bad("y", 4), bad("z", 1)
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    intake = Intake.from_settings(engine, settings)

    def run(files: list[Path], report: Path, commits: int | None = None) -> None:
        with ReportFile(report) as file:
            filled = Backfill(engine, intake, report=file, batch_size=2)
            if commits is not None:
                real, made = filled._commit, []

                def commit(*args, **kwargs):
                    if len(made) == commits:
                        raise KeyboardInterrupt
                    made.append(1)
                    return real(*args, **kwargs)

                filled._commit = commit
            with contextlib.suppress(KeyboardInterrupt):  # an interrupted run
                filled.run(files)

    def tags(report: Path) -> list[str]:
        return [orjson.loads(line)["file"].rsplit("/", 1)[-1][0]
                for line in report.read_bytes().splitlines()]

    run([x, y], first, commits=3)  # x whole, then y's first batch
    assert tags(first) == ["x", "x", "y", "y"]
    run([y], second)
    assert tags(second) == ["y", "y"]
    run([z], first)
    assert tags(first) == ["x", "x", "y", "y", "z"]
