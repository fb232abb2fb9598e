"""Reads for the L&D audit console: statements newest first under filters (keyset pages on
(timestamp, seq), never OFFSET), rule hits and samples, competencies without evidence,
unmapped activities, and the readiness snapshots around one statement's processing.

Every statement query is an index range read (`audit_tables.py` lists the indexes), so a page
costs the same on the millionth statement as on the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lrs_connector.store import audit_counts, database
from lrs_connector.store.audit_tables import IRI_PREFIX, iri_prefix
from lrs_connector.store.learner_tables import learner_aliases, statement_aliases
from lrs_connector.store.mapping_tables import evidence, mapping_versions
from lrs_connector.store.readiness_tables import readiness_snapshots
from lrs_connector.store.tables import BigId, Timestamp, sources, statements

STATES = ("all", "mapped", "unmapped", "voided")
MAX_IRI = 2048  # longer filter values cannot be typed in sensibly; refused by the view
_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z([1-9]\d{0,18})")
# Snapshots written this long after a statement's evidence count as "moved by" its batch.
AROUND = timedelta(minutes=1)


@dataclass(frozen=True)
class Filters:
    """What the statements list is narrowed to (None: no condition)."""

    learner: int | None = None
    verb: str | None = None
    activity: str | None = None
    source: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    state: str = "all"

    def conditions(self) -> list[sa.ColumnElement]:
        out: list[sa.ColumnElement] = []
        for column, value in ((statements.c.verb_id, self.verb),
                              (statements.c.object_id, self.activity)):
            if value is not None:
                out.append(iri_prefix(column) == value[:IRI_PREFIX])
                if len(value) >= IRI_PREFIX:
                    # Only then can a longer IRI share the prefix. (Not always: SQLite would
                    # propagate `column = value` into the prefix term and lose the index.)
                    out.append(column == value)
        if self.source is not None:
            out.append(statements.c.source_id == self.source)
        if self.since is not None:
            out.append(statements.c.timestamp >= self.since)
        if self.until is not None:
            out.append(statements.c.timestamp < self.until)
        if self.learner is not None:  # every statement naming one of the learner's aliases
            out.append(statements.c.id.in_(
                sa.select(statement_aliases.c.statement_id)
                .join(learner_aliases, learner_aliases.c.alias == statement_aliases.c.alias)
                .where(learner_aliases.c.learner_id == self.learner)
            ))
        mapped = sa.exists().where(evidence.c.statement_id == statements.c.id,
                                   evidence.c.retracted.is_(False))
        if self.state == "mapped":
            out.append(mapped)
        elif self.state == "unmapped":  # what coverage counts as unmapped
            out += [statements.c.voided.is_(False), statements.c.voids.is_(None), ~mapped]
        elif self.state == "voided":
            out.append(statements.c.voided == sa.true())  # the partial index's predicate
        return out


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's (timestamp, seq); the next page starts below it."""

    timestamp: datetime
    seq: int

    def encode(self) -> str:
        return self.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + str(self.seq)

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """None unless exactly what `encode` writes (the cursor comes from the query string)."""
        found = _CURSOR.fullmatch(text or "")
        if found is None or int(found.group(2)) > 2**63 - 1:
            return None
        try:
            moment = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        except ValueError:
            return None
        return cls(moment.replace(tzinfo=UTC), int(found.group(2)))


def actor_label(actor: Any) -> str:
    """A short readable name for a statement's actor (name, else its identifier)."""
    if type(actor) is not dict:
        return ""
    account = actor.get("account") if type(actor.get("account")) is dict else {}
    for value in (actor.get("name"), actor.get("mbox"), account.get("name"),
                  actor.get("openid"), actor.get("mbox_sha1sum")):
        if isinstance(value, str) and value:
            label = value.removeprefix("mailto:")
            break
    else:
        label = "anonymous group" if actor.get("objectType") == "Group" else ""
    if actor.get("objectType") == "Group":
        label = f"group {label}" if not label.startswith("anonymous") else label
    return label[:200]


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def statement_page(
    conn: Connection, filters: Filters, before: Cursor | None, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` statements under `filters`, newest first (timestamp, then arrival), all
    older than `before`; each with its evidence rows in force and the learners they name."""
    query = (
        sa.select(
            statements.c.seq, statements.c.id, statements.c.timestamp, statements.c.verb_id,
            statements.c.object_id, statements.c.source_id, statements.c.voided,
            statements.c.voids, statements.c.body, sources.c.name.label("source"),
        )
        .select_from(statements.outerjoin(sources, sources.c.id == statements.c.source_id))
        .where(*filters.conditions())
        .order_by(statements.c.timestamp.desc(), statements.c.seq.desc())
        .limit(limit)
    )
    if before is not None:
        at = sa.literal(before.timestamp, Timestamp())
        query = query.where(
            statements.c.timestamp <= at,
            sa.or_(statements.c.timestamp < at, statements.c.seq < sa.literal(before.seq, BigId)),
        )
    rows = conn.execute(query).all()
    counts = _evidence_in_force(conn, [r.id for r in rows])
    out = []
    for r in rows:
        try:
            actor = orjson.loads(r.body).get("actor")
        except (orjson.JSONDecodeError, AttributeError):
            actor = None
        rows_in_force, learners = counts.get(r.id, (0, ()))
        if r.voided:
            state = "voided"
        elif r.voids:
            state = "voiding"
        else:
            state = "mapped" if rows_in_force else "unmapped"
        out.append({
            "seq": r.seq, "id": r.id, "timestamp": _time(r.timestamp), "verb": r.verb_id,
            "activity": r.object_id or "", "source": r.source or "", "actor": actor_label(actor),
            "state": state, "evidence": rows_in_force, "learners": sorted(learners),
            "cursor": Cursor(r.timestamp, r.seq).encode(),
        })
    return out


def _evidence_in_force(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[int, set[int]]]:
    if not ids:
        return {}
    out: dict[str, tuple[int, set[int]]] = {}
    rows = conn.execute(
        sa.select(evidence.c.statement_id, evidence.c.learner_id, sa.func.count())
        .where(evidence.c.statement_id.in_(list(ids)), evidence.c.retracted.is_(False))
        .group_by(evidence.c.statement_id, evidence.c.learner_id)
    )
    for statement_id, learner_id, count in rows:
        total, learners = out.get(statement_id, (0, set()))
        learners.add(learner_id)
        out[statement_id] = (total + count, learners)
    return out


def all_statements(
    engine: Engine, filters: Filters, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every statement under `filters`, newest first, a keyset page per short read
    transaction (for streamed exports: memory stays flat, writers are never held up)."""
    cursor: Cursor | None = None
    while True:
        with database.read(engine) as conn:
            page = statement_page(conn, filters, cursor, page_size)
        yield from page
        if len(page) < page_size:
            return
        cursor = Cursor.decode(page[-1]["cursor"])


def source_names(conn: Connection) -> list[tuple[int, str]]:
    return [(r.id, r.name) for r in conn.execute(
        sa.select(sources.c.id, sources.c.name).order_by(sources.c.name))]


def drafts(conn: Connection) -> list[dict[str, Any]]:
    """Draft mapping versions, newest first (what the what-if page offers)."""
    rows = conn.execute(
        sa.select(mapping_versions.c.version, mapping_versions.c.name,
                  mapping_versions.c.created_at, mapping_versions.c.source)
        .where(mapping_versions.c.status == "draft")
        .order_by(mapping_versions.c.version.desc())
    )
    return [{"version": r.version, "name": r.name, "created_at": _time(r.created_at),
             "source": r.source} for r in rows]


def version_status(conn: Connection, version: int) -> str | None:
    return conn.execute(sa.select(mapping_versions.c.status)
                        .where(mapping_versions.c.version == version)).scalar()


def rule_hits(conn: Connection, version: int) -> dict[str, int]:
    """Statements each rule of `version` gave evidence in force for (kept counters)."""
    return audit_counts.hits(conn, version)


def rule_samples(
    conn: Connection, version: int, rule_ids: Sequence[str], per_rule: int = 3
) -> dict[str, list[str]]:
    """A few statement ids per rule (evidence in force under `version`), for links: the first
    rows of the (version, rule) index, not a grouping of all of a rule's rows."""
    out: dict[str, list[str]] = {}
    for rule_id in rule_ids:
        found = conn.execute(
            sa.select(evidence.c.statement_id)
            .where(evidence.c.mapping_version == version, evidence.c.rule_id == rule_id,
                   evidence.c.retracted.is_(False))
            .limit(per_rule * 8)  # a statement has a row per target and learner
        ).scalars()
        out[rule_id] = list(dict.fromkeys(found))[:per_rule]
    return out


def targets_with_evidence(conn: Connection, targets: Sequence[str]) -> set[str]:
    """The framework targets that have at least one evidence row in force (an index probe
    per target, not a scan of the evidence)."""
    found: set[str] = set()
    for target in targets:
        if conn.execute(sa.select(sa.literal(1)).where(sa.exists().where(
            evidence.c.target == target, evidence.c.retracted.is_(False)
        ))).scalar():
            found.add(target)
    return found


def unmapped_activities(conn: Connection, limit: int | None = 50) -> list[dict[str, Any]]:
    """Activity ids of processed statements no rule maps, with counts, most frequent first
    (kept counters, store/audit_counts.py)."""
    return [{"activity": activity, "statements": n}
            for activity, n in audit_counts.top_unmapped(conn, "activity", limit)]


def readiness_around(conn: Connection, statement_id: str) -> list[dict[str, Any]]:
    """Per learner given evidence by the statement and per role: the last snapshot before the
    evidence was written and the first one within a minute after (None when readiness did
    not change then). Other statements processed in the same batch may have moved it too."""
    written = conn.execute(
        sa.select(evidence.c.learner_id, sa.func.max(evidence.c.created_at))
        .where(evidence.c.statement_id == statement_id)
        .group_by(evidence.c.learner_id)
        .order_by(evidence.c.learner_id)
        .limit(20)
    ).all()
    out = []
    for learner_id, created_at in written:
        columns = (readiness_snapshots.c.role, readiness_snapshots.c.score,
                   readiness_snapshots.c.level, readiness_snapshots.c.computed_at)
        mine = readiness_snapshots.c.learner_id == learner_id
        before: dict[str, Any] = {}
        for r in conn.execute(sa.select(*columns).where(
                mine, readiness_snapshots.c.computed_at < created_at)
                .order_by(readiness_snapshots.c.id.desc()).limit(500)):
            before.setdefault(r.role, r)
        after: dict[str, Any] = {}
        for r in conn.execute(sa.select(*columns).where(
                mine, readiness_snapshots.c.computed_at >= created_at,
                readiness_snapshots.c.computed_at <= created_at + AROUND)
                .order_by(readiness_snapshots.c.id).limit(500)):
            after.setdefault(r.role, r)
        roles = []
        for role in sorted(set(before) | set(after)):
            was, now = before.get(role), after.get(role)
            roles.append({
                "role": role,
                "before": None if was is None else {
                    "score": round(was.score, 1), "level": was.level, "at": _time(was.computed_at)},
                "after": None if now is None else {
                    "score": round(now.score, 1), "level": now.level, "at": _time(now.computed_at)},
            })
        out.append({"learner": learner_id, "processed_at": _time(created_at), "roles": roles})
    return out
