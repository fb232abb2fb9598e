"""Backfill: statements from export files (JSON arrays, NDJSON, gzip of either) into intake.

Files are streamed, never loaded whole: NDJSON line by line, a JSON array item by item by a
small scanner that only finds where each top-level item ends (strings skipped with one regex
match each); each item is then parsed on its own. Statements go through the same intake path
as forwarded and pulled ones (validation, quarantine, deduplication by id, voiding in any
order) in batches; with each batch the file's checkpoint (items consumed, outcomes) commits
in the same transaction, so an interrupted backfill resumes after the last committed batch and
never stores a statement twice. Rejected items (not JSON, or invalid and quarantined) are
written to a report file, one JSON object per line with the file, the item and the reasons,
kept in step with the checkpoints (see `ReportFile`).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector.intake.service import Intake
from lrs_connector.store import database
from lrs_connector.store.holders import Holder
from lrs_connector.store.pull_tables import backfill_files, backfill_reports
from lrs_connector.store.tables import sources

CHUNK_BYTES = 1024 * 1024
MAX_ITEM_BYTES = 8 * 1024 * 1024
_SIGNIFICANT = re.compile(rb'["\[\]{},]')
_STRING_REST = re.compile(rb'(?:[^"\\]|\\.)*"', re.S)


class BackfillError(Exception):
    """A file cannot be read as statements; the message names the file and the place."""


@dataclass
class Item:
    position: int  # 1-based number of the item (array element or non-blank line) in its file
    line: int | None  # NDJSON line number
    raw: bytes


@dataclass
class Progress:
    """What a progress display needs; `fraction` of all input bytes, None when unknown."""

    file: str
    file_number: int
    files: int
    statements: int
    elapsed: float
    fraction: float | None

    @property
    def rate(self) -> float:
        return self.statements / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        if not self.fraction or self.fraction <= 0:
            return None
        return self.elapsed * (1 - self.fraction) / self.fraction


@dataclass
class FileResult:
    path: str
    read: int = 0  # items read in this run (after those skipped on resume)
    skipped: int = 0  # items already committed by an earlier run
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    already_done: bool = False


def open_stream(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(the decompressed stream, the raw file whose position measures progress)."""
    raw = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def items(stream: BinaryIO, name: str) -> Iterator[Item]:
    """The top-level items of a JSON array or the lines of an NDJSON stream, unparsed."""
    buffered = io.BufferedReader(stream, CHUNK_BYTES) if not hasattr(stream, "peek") else stream
    head = buffered.peek(64)[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    while not head:
        if not buffered.read(1):
            raise BackfillError(f"{name}: the file is empty")
        head = buffered.peek(64)[:64].lstrip(b" \t\r\n")
    if head[:1] == b"[":
        yield from _array_items(buffered, name)
    elif head[:1] == b"{":
        yield from _lines(buffered, name)
    else:
        raise BackfillError(f"{name}: expected a JSON array of statements or NDJSON")


def _lines(stream: BinaryIO, name: str) -> Iterator[Item]:
    position = 0
    for number, line in enumerate(stream, start=1):
        if len(line) > MAX_ITEM_BYTES:
            raise BackfillError(f"{name} line {number}: longer than {MAX_ITEM_BYTES} bytes")
        if line.strip():
            position += 1
            yield Item(position, number, line)


def _array_items(stream: BinaryIO, name: str) -> Iterator[Item]:
    buf, pos, depth, start, position = b"", 0, 0, 0, 0
    eof = False
    while True:
        match = _SIGNIFICANT.search(buf, pos)
        if match is None or (buf[match.start()] == 0x22 and not _complete_string(buf, match)):
            if eof:
                break
            chunk = stream.read(CHUNK_BYTES)
            eof = not chunk
            cut = start if depth else pos
            buf, pos, start = buf[cut:] + chunk, pos - cut, start - cut if depth else 0
            if len(buf) > MAX_ITEM_BYTES + CHUNK_BYTES:
                raise BackfillError(
                    f"{name} item {position + 1}: larger than {MAX_ITEM_BYTES} bytes"
                )
            continue
        char, pos = buf[match.start()], match.end()
        if char == 0x22:  # a string: skip to its closing quote
            pos = _STRING_REST.match(buf, pos).end()
        elif char in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth == 1:
                if char != 0x5B:
                    raise BackfillError(f"{name}: expected a JSON array")
                start = pos
        elif char in (0x5D, 0x7D):  # ] }
            depth -= 1
            if depth == 0:
                raw = buf[start : match.start()]
                if raw.strip() or position:
                    position += 1
                    yield Item(position, None, raw)
                return
        elif depth == 1:  # a comma between items
            position += 1
            yield Item(position, None, buf[start : match.start()])
            start = pos
    if depth:
        raise BackfillError(f"{name}: the JSON array ends before its closing bracket")


def _complete_string(buf: bytes, match: re.Match) -> bool:
    return _STRING_REST.match(buf, match.end()) is not None


def fingerprint(path: Path) -> str:
    """Identifies a file's content cheaply (size, first and last 64 KiB), wherever it lies."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(65536))
        if size > 65536:
            handle.seek(max(65536, size - 65536))
            digest.update(handle.read(65536))
    return digest.hexdigest()


class ReportFile:
    """The rejects report, in step with the checkpoints whatever interrupts a backfill.

    A batch's lines are written and fsynced before the batch commits, and the report's length
    then commits with the batch's position (`backfill_reports.committed_bytes`). Written after the
    commit, the lines of a batch interrupted between the two were lost (and a buffered file
    lost more on SIGKILL). Written before, an interruption can only leave lines past the longest
    length committed for this report, all of a batch that was not committed and will be read
    again: `cut_to` drops them before a run appends, so each rejected item is there once. The
    lock keeps two backfills from cutting each other's lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path.resolve())
        self.key = hashlib.sha256(self.name.encode()).hexdigest()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise BackfillError(f"{path}: another backfill is writing this report") from None

    def __enter__(self) -> ReportFile:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._fd)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def append(self, entries: list[dict]) -> int:
        """Writes the entries durably; the report's length after them."""
        if entries:
            view = memoryview(b"".join(orjson.dumps(e) + b"\n" for e in entries))
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        return self.size()

    def cut_to(self, committed: int) -> None:
        """Drops what an uncommitted batch wrote past `committed`, if it is only that."""
        size = self.size()
        if size <= committed:
            return
        for line in os.pread(self._fd, size - committed, committed).split(b"\n")[:-1]:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                entry = None
            if not isinstance(entry, dict) or "item" not in entry:
                raise BackfillError(
                    f"{self.path}: changed since the last backfill wrote it (its end is not "
                    "rejected statements); pass another --report"
                )
        os.ftruncate(self._fd, committed)
        os.fsync(self._fd)


class Backfill:
    """Backfills files into intake. `report` receives one dict per rejected item (after the
    batch commits), or is a `ReportFile`, kept exact across interruptions."""

    def __init__(
        self,
        engine: Engine,
        intake: Intake,
        *,
        report: Callable[[dict], None] | ReportFile,
        source_name: str | None = None,
        batch_size: int = 1000,
        progress: Callable[[Progress], None] | None = None,
        progress_every: float = 1.0,
    ) -> None:
        self.engine = engine
        self.intake = intake
        self.report = report
        self.batch_size = max(1, min(batch_size, intake.max_batch))
        self.progress = progress
        self.progress_every = progress_every
        self.holder = self._holder(source_name)

    def _holder(self, source_name: str | None) -> Holder:
        source_id = None
        if source_name:
            with database.read(self.engine) as conn:
                source_id = conn.execute(
                    sa.select(sources.c.id).where(sources.c.name == source_name)
                ).scalar()
            if source_id is None:
                raise BackfillError(f"no source named {source_name!r} (see `sources list`)")
        return Holder(
            id=source_id,  # type: ignore[arg-type]
            name=source_name or "backfill",
            key="",
            enabled=True,
            created_at=datetime.now(UTC),
            rotated_at=None,
        )

    def run(self, paths: list[Path], *, restart: bool = False) -> list[FileResult]:
        for path in paths:
            if not path.is_file():
                raise BackfillError(f"{path}: no such file")
        total_bytes = sum(p.stat().st_size for p in paths) or 1
        self._done_bytes = 0
        self._total_bytes = total_bytes
        self._started = time.monotonic()
        self._count = 0
        if isinstance(self.report, ReportFile):
            self._recover_report(self.report)
        results = []
        for number, path in enumerate(paths, start=1):
            results.append(self._file(path, number, len(paths), restart))
            self._done_bytes += path.stat().st_size
        return results

    def _recover_report(self, report: ReportFile) -> None:
        """Back to the length committed for the report; a report shorter than that was
        shortened or replaced since, and is taken as it is."""
        with database.write(self.engine) as conn:
            committed = conn.execute(
                sa.select(backfill_reports.c.committed_bytes).where(
                    backfill_reports.c.key == report.key
                )
            ).scalar()
            if committed is not None and committed <= report.size():
                report.cut_to(committed)

    def _record_report(self, conn: Connection, report: ReportFile, length: int) -> None:
        now = datetime.now(UTC)
        where = backfill_reports.c.key == report.key
        if not conn.execute(
            backfill_reports.update().where(where).values(committed_bytes=length, updated_at=now)
        ).rowcount:
            conn.execute(backfill_reports.insert().values(
                key=report.key, report=report.name, committed_bytes=length, updated_at=now))

    def _file(self, path: Path, number: int, files: int, restart: bool) -> FileResult:
        result = FileResult(str(path))
        key = fingerprint(path)
        with database.write(self.engine) as conn:
            checkpoint = _checkpoint(conn, path, key, restart)
        if checkpoint["done"]:
            result.already_done = True
            result.skipped = checkpoint["position"]
            return result
        resume = checkpoint["position"]
        stream, raw = open_stream(path)
        last_shown = 0.0
        try:
            batch: list[Item] = []
            for item in items(stream, str(path)):
                if item.position <= resume:
                    result.skipped += 1
                    continue
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self._commit(path, key, batch, result, done=False)
                    batch = []
                    now = time.monotonic()
                    if self.progress and now - last_shown >= self.progress_every:
                        last_shown = now
                        self._show(path, number, files, raw)
            self._commit(path, key, batch, result, done=True)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise BackfillError(f"{path}: cannot be read: {exc}") from None
        finally:
            stream.close()
            raw.close()
        if self.progress:
            self._show(path, number, files, None)
        return result

    def _commit(self, path: Path, key: str, batch: list[Item], result: FileResult, done: bool):
        parsed, positions, rejected = [], [], []
        for item in batch:
            try:
                parsed.append(orjson.loads(item.raw))
                positions.append(item)
            except orjson.JSONDecodeError as exc:
                rejected.append(
                    _rejection(path, item, None, [{"path": "", "rule": f"not JSON: {exc}"}])
                )
        checked = self.intake.check(self.holder, parsed, via="backfill") if parsed else None
        with database.write(self.engine) as conn:  # validated before: a short write turn
            outcome = (
                self.intake.store_checked(conn, self.holder, checked)
                if checked is not None
                else None
            )
            if outcome is not None:
                for held in outcome.quarantined:
                    item = positions[held["index"]]
                    rejected.append(
                        _rejection(path, item, held["id"], held["problems"], held["quarantine_id"])
                    )
            stored = len(outcome.stored) if outcome else 0
            duplicates = len(outcome.duplicates) if outcome else 0
            rejected.sort(key=lambda r: r["item"])
            durable = isinstance(self.report, ReportFile)
            if durable and rejected:
                self._record_report(conn, self.report, self.report.append(rejected))
            conn.execute(
                backfill_files.update()
                .where(backfill_files.c.fingerprint == key)
                .values(
                    position=backfill_files.c.position + len(batch),
                    stored=backfill_files.c.stored + stored,
                    duplicates=backfill_files.c.duplicates + duplicates,
                    rejected=backfill_files.c.rejected + len(rejected),
                    done=done,
                    updated_at=datetime.now(UTC),
                )
            )
        if not durable:
            for entry in rejected:
                self.report(entry)
        result.read += len(batch)
        result.stored += stored
        result.duplicates += duplicates
        result.rejected += len(rejected)
        self._count += len(batch)

    def _show(self, path: Path, number: int, files: int, raw: BinaryIO | None) -> None:
        into_file = raw.tell() if raw is not None and not raw.closed else path.stat().st_size
        fraction = min(1.0, (self._done_bytes + into_file) / self._total_bytes)
        self.progress(
            Progress(
                file=str(path),
                file_number=number,
                files=files,
                statements=self._count,
                elapsed=time.monotonic() - self._started,
                fraction=fraction,
            )
        )


def _checkpoint(conn: Connection, path: Path, key: str, restart: bool) -> dict:
    now = datetime.now(UTC)
    row = conn.execute(sa.select(backfill_files).where(backfill_files.c.fingerprint == key)).first()
    if row is None:
        conn.execute(
            backfill_files.insert().values(
                path=str(path.resolve()), fingerprint=key, started_at=now, updated_at=now
            )
        )
        return {"position": 0, "done": False}
    if restart:
        conn.execute(
            backfill_files.update()
            .where(backfill_files.c.fingerprint == key)
            .values(
                position=0,
                stored=0,
                duplicates=0,
                rejected=0,
                done=False,
                started_at=now,
                updated_at=now,
                path=str(path.resolve()),
            )
        )
        return {"position": 0, "done": False}
    return {"position": row.position, "done": row.done}


def _rejection(path, item: Item, statement_id, problems, quarantine_id=None) -> dict:
    entry = {"file": str(path), "item": item.position}
    if item.line is not None:
        entry["line"] = item.line
    entry.update(id=statement_id, quarantine_id=quarantine_id, problems=problems[:20])
    return entry


def format_progress(p: Progress) -> str:
    left = p.seconds_left
    eta = "-" if left is None else time.strftime("%H:%M:%S", time.gmtime(left))
    percent = f"{p.fraction * 100:5.1f}%" if p.fraction is not None else "  ?  "
    return (
        f"[{p.file_number}/{p.files}] {os.path.basename(p.file)}: {p.statements:,} statements, "
        f"{p.rate:,.0f}/s, {percent}, {eta} left"
    )
