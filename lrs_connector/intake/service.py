"""Intake: validate statements, store them durably and idempotently, queue them for processing.

Two ways in share this service:
* the strict xAPI Statements resource (`/xapi/statements`), for emitters and auditors: any
  invalid statement rejects the whole request with 400, a conflicting id with 409;
* the lenient forwarding endpoint (`/forward/statements`), for LRSs: valid statements are stored,
  invalid ones are quarantined with their reasons, and the answer says which went where.

Nothing is acknowledged before it is committed, and a request is one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Engine

from lrs_connector import logs
from lrs_connector.intake import normalise
from lrs_connector.settings import Settings
from lrs_connector.store import database, quarantine
from lrs_connector.store import statements as store
from lrs_connector.store.holders import Holder
from lrs_connector.xapi import comparison, validation
from lrs_connector.xapi.records import StatementRecord, prepare, source_authority

MAX_REPORTED_PROBLEMS = 50
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class IntakeError(Exception):
    """A request the connector refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str, problems: Sequence[dict] = ()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)[:MAX_REPORTED_PROBLEMS]

    def as_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.problems:
            error["problems"] = self.problems
        return {"error": error}


@dataclass(frozen=True)
class Checked:
    """Forwarded statements validated and prepared (`Intake.check`), not stored yet: the
    records to store by their position in the batch, and the invalid ones with their
    problems."""

    now: datetime
    via: str  # forward, pull or backfill: how they came, stored with them
    candidates: list[tuple[int, StatementRecord]]
    invalid: list[tuple[int, object, list[dict]]]


@dataclass
class ForwardOutcome:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
        }


def json_depth_exceeds(value: object, limit: int) -> bool:
    """True when `value` nests deeper than `limit` containers (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def _extension_maps(statement: dict):
    """The free-form parts of a valid statement: the only places it can nest without bound."""
    for node in (statement, statement.get("object")):
        if not isinstance(node, dict):
            continue
        for part in (node.get("result"), node.get("context")):
            if isinstance(part, dict) and "extensions" in part:
                yield part["extensions"]
        target = node.get("object") if node is statement else node
        definition = target.get("definition") if isinstance(target, dict) else None
        if isinstance(definition, dict) and "extensions" in definition:
            yield definition["extensions"]


def rules_for(statement: object, fallback: str) -> str:
    """Forwarded statements are judged by the version they declare, else by `fallback`."""
    if isinstance(statement, dict):
        declared = statement.get("version")
        if isinstance(declared, str) and declared.startswith("2."):
            return "2.0.0"
        if isinstance(declared, str) and declared.startswith("1.0"):
            return "1.0.3"
    return fallback


class Intake:
    """The intake service. One instance per application; it holds no per-request state."""

    def __init__(self, engine: Engine, *, base_url: str, max_depth: int, max_batch: int):
        self.engine = engine
        self.base_url = base_url
        self.max_depth = max_depth
        self.max_batch = max_batch

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> Intake:
        return cls(
            engine,
            base_url=settings.public_base_url,
            max_depth=settings.max_json_depth,
            max_batch=settings.max_batch_statements,
        )

    # -- strict xAPI resource -------------------------------------------------------------

    def post(self, source: Holder, body: object, version: str) -> list[str]:
        """POST /xapi/statements: one statement or an array; all stored or none."""
        batch = body if isinstance(body, list) else [body]
        self._check_batch(batch)
        problems = self._problems(batch, version, prefix_index=isinstance(body, list))
        if problems:
            raise IntakeError(400, "invalid-statement", _summary(problems), problems)
        now = datetime.now(UTC)
        records = [self._prepare(s, source, version, now) for s in batch]
        seen: dict[str, int] = {}
        for index, record in enumerate(records):
            if record.id in seen:
                raise IntakeError(
                    400,
                    "duplicate-id",
                    f"statements [{seen[record.id]}] and [{index}] share the id {record.id}",
                )
            seen[record.id] = index
        return self._store_all_or_nothing(records, source)

    def put(self, source: Holder, statement_id: str | None, body: object, version: str) -> None:
        """PUT /xapi/statements?statementId=…: one statement under the given id."""
        if not statement_id:
            raise IntakeError(400, "missing-parameter", "statementId query parameter is required")
        if not _UUID.fullmatch(statement_id):
            raise IntakeError(
                400, "invalid-parameter", f"statementId {statement_id!r} is not a UUID"
            )
        if not isinstance(body, dict):
            raise IntakeError(400, "invalid-statement", "PUT takes a single statement object")
        if (
            "id" in body
            and isinstance(body["id"], str)
            and body["id"].lower() != statement_id.lower()
        ):
            raise IntakeError(
                400,
                "id-mismatch",
                f"statement id {body['id']} differs from statementId parameter {statement_id}",
                [{"path": "id", "rule": "must equal the statementId parameter"}],
            )
        body.setdefault("id", statement_id)
        self.post(source, body, version)

    def _store_all_or_nothing(self, records: list[StatementRecord], source: Holder) -> list[str]:
        now = datetime.now(UTC)
        with database.write(self.engine) as conn:
            existing = store.find(conn, [r.id for r in records])
            new = []
            for record in records:
                stored = existing.get(record.id)
                if stored is None:
                    new.append(record)
                elif not comparison.equivalent(stored.statement, record.statement):
                    raise IntakeError(
                        409,
                        "conflict",
                        f"statement {record.id} is already stored with different content",
                    )
            store.insert(conn, new, source_id=source.id, via="xapi", received_at=now,
                         request_id=logs.current_request_id())
        return [r.id for r in records]

    # -- lenient forwarding -------------------------------------------------------------

    def forward(
        self,
        source: Holder,
        body: object,
        *,
        via: str = "forward",
    ) -> ForwardOutcome:
        """Forwarded statements: store the valid, quarantine the invalid, skip duplicates.

        Pull and backfill take its two steps themselves: `check` before their write
        transaction, `store_checked` in it, so that their checkpoint commits with the
        statements while validation holds no write turn.
        """
        checked = self.check(source, body, via=via)
        with database.write(self.engine) as conn:
            return self.store_checked(conn, source, checked)

    def check(self, source: Holder, body: object, *, via: str = "forward") -> Checked:
        """Validate and prepare forwarded statements, outside any transaction (on SQLite a
        write transaction is the database's one write turn: processing waits through it).
        With `via` "pull" or "backfill" a statement nested too deep is quarantined instead of
        refusing the batch (there is no sender to answer 400 to)."""
        items = body if isinstance(body, list) else [body]
        if len(items) > self.max_batch:
            raise IntakeError(
                413, "batch-too-large", f"{len(items)} statements; at most {self.max_batch}"
            )
        now = datetime.now(UTC)
        candidates: list[tuple[int, StatementRecord]] = []
        invalid: list[tuple[int, object, list[dict]]] = []
        for index, item in enumerate(items):
            statement = unwrap_forwarded(item)
            try:
                problems = self._statement_problems(statement, rules_for(statement, "1.0.3"))
            except IntakeError as exc:
                if via == "forward":
                    raise
                problems = [{"path": "", "rule": exc.message}]
            if problems:
                invalid.append((index, statement, problems))
                continue
            candidates.append(
                (index, self._prepare(statement, source, None, now, forwarded=True))
            )
        return Checked(now, via, candidates, invalid)

    def store_checked(self, conn: Connection, source: Holder, checked: Checked) -> ForwardOutcome:
        """Store what `check` accepted in the caller's write transaction: new statements are
        stored, the same again skipped, the invalid and conflicting quarantined."""
        outcome = ForwardOutcome()
        now, via, candidates = checked.now, checked.via, checked.candidates
        invalid = list(checked.invalid)
        existing = store.find(conn, [r.id for _, r in candidates])
        new: dict[str, StatementRecord] = {}
        for index, record in candidates:
            stored = existing.get(record.id)
            earlier = new.get(record.id)
            if stored is None and earlier is None:
                new[record.id] = record
                outcome.stored.append(record.id)
                continue
            twin = stored.statement if stored else earlier.statement
            if comparison.equivalent(twin, record.statement):
                outcome.duplicates.append(record.id)
            else:
                invalid.append(
                    (
                        index,
                        record.statement,
                        [{"path": "id", "rule": "already stored with different content"}],
                    )
                )
        store.insert(conn, new.values(), source_id=source.id, via=via, received_at=now,
                     request_id=logs.current_request_id())
        for index, statement, problems in sorted(invalid, key=lambda t: t[0]):
            held_id = quarantine.hold(
                conn, source_id=source.id, body=statement, problems=problems, received_at=now
            )
            declared = statement.get("id") if isinstance(statement, dict) else None
            outcome.quarantined.append(
                {
                    "index": index,
                    "id": declared if isinstance(declared, str) else None,
                    "quarantine_id": held_id,
                    "problems": problems[:MAX_REPORTED_PROBLEMS],
                }
            )
        return outcome

    # -- quarantine -----------------------------------------------------------------------

    def readmit(
        self,
        held_id: int,
        *,
        normalisations: Sequence[str] = (),
        corrected: object = None,
        iri_base: str = "",
    ) -> str:
        """Store a held statement after a fix: a corrected copy, or normalisations applied."""
        with database.write(self.engine) as conn:
            held = _still_held(conn, held_id)
            if corrected is not None:
                statement, how = corrected, "corrected copy"
            else:
                statement = normalise.apply(held.body, normalisations, iri_base=iri_base)
                how = "normalised: " + (", ".join(normalisations) or "none")
            rules = rules_for(statement, "1.0.3")
            problems = self._statement_problems(statement, rules)
            if problems:
                raise IntakeError(
                    422, "still-invalid", f"after the fix: {_summary(problems)}", problems
                )
            record = prepare(
                statement,
                stored=datetime.now(UTC),
                authority=None,
                default_version="2.0.0" if rules == "2.0.0" else "1.0.0",
                keep_upstream=True,
                missing_id="content",
            )
            stored = store.get(conn, record.id)
            if stored is None:
                store.insert(
                    conn,
                    [record],
                    source_id=held.source_id,
                    via="quarantine",
                    received_at=datetime.now(UTC),
                    request_id=logs.current_request_id(),
                )
            elif not comparison.equivalent(stored.statement, record.statement):
                raise IntakeError(
                    409, "conflict", f"statement {record.id} is already stored with other content"
                )
            quarantine.resolve(conn, held_id, "readmitted", f"{how}; statement {record.id}")
        return record.id

    def discard(self, held_id: int, reason: str) -> None:
        with database.write(self.engine) as conn:
            _still_held(conn, held_id)
            quarantine.resolve(conn, held_id, "discarded", reason or "discarded by an admin")

    # -- shared -------------------------------------------------------------------------

    def _check_batch(self, batch: list) -> None:
        if not batch:
            raise IntakeError(400, "empty-batch", "the request holds no statements")
        if len(batch) > self.max_batch:
            raise IntakeError(
                413, "batch-too-large", f"{len(batch)} statements; at most {self.max_batch}"
            )

    def _problems(self, batch: list, version: str, prefix_index: bool) -> list[dict]:
        problems: list[dict] = []
        for index, statement in enumerate(batch):
            for p in self._statement_problems(statement, version):
                if prefix_index:
                    path = f"[{index}]" + ("." + p["path"] if p["path"] else "")
                    p = {"path": path, "rule": p["rule"]}
                problems.append(p)
            if len(problems) >= MAX_REPORTED_PROBLEMS:
                break
        return problems

    def _statement_problems(self, statement: object, version: str) -> list[dict]:
        """Validation problems; a statement nested deeper than allowed refuses the request.

        A valid statement's structure is fixed except inside extensions, so only those are
        measured on the fast path; an invalid one is measured whole before it is kept.
        """
        problems = validation.validate_statement(statement, version)
        if problems:
            deep = json_depth_exceeds(statement, self.max_depth)
        else:
            deep = any(
                json_depth_exceeds(ext, self.max_depth - 6) for ext in _extension_maps(statement)
            )
        if deep:
            raise IntakeError(
                400, "too-deep", f"a statement nests JSON deeper than {self.max_depth} levels"
            )
        return [p.as_dict() for p in problems]

    def _prepare(
        self,
        statement: dict,
        source: Holder,
        version: str | None,
        stored: datetime,
        forwarded: bool = False,
    ) -> StatementRecord:
        """`stored` is one instant per request: the statements of a request are stored together."""
        rules = rules_for(statement, "1.0.3") if forwarded else version
        default_version = "2.0.0" if rules == "2.0.0" else "1.0.0"
        return prepare(
            statement,
            stored=stored,
            authority=source_authority(self.base_url, source.name),
            default_version=default_version,
            keep_upstream=forwarded,
            missing_id="content" if forwarded else "random",
        )


def _still_held(conn: Connection, held_id: int) -> quarantine.Held:
    """The quarantined statement, if it still waits for a decision (404 / 409 otherwise)."""
    held = quarantine.get(conn, held_id)
    if held is None:
        raise IntakeError(404, "not-found", f"no quarantined statement {held_id}")
    if held.status != "held":
        raise IntakeError(
            409, "not-held", f"quarantined statement {held_id} is already {held.status}"
        )
    return held


def unwrap_forwarded(item: object) -> object:
    """Learning Locker's "full document" wraps the statement in a `statement` key."""
    if (
        isinstance(item, dict)
        and "statement" in item
        and "actor" not in item
        and "verb" not in item
    ):
        return item["statement"]
    return item


def _summary(problems: list[dict]) -> str:
    first = problems[0]
    where = first["path"] or "statement"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first['rule']}{more}"
