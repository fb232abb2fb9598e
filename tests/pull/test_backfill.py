"""Backfill from export files: formats, streaming, rejected statements, resumption, the CLI."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector.intake import backfill as module
from lrs_connector.intake.backfill import Backfill, BackfillError, Item, items
from lrs_connector.intake.backfill_cli import backfill as backfill_command
from lrs_connector.intake.service import Intake
from lrs_connector.store import database
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
