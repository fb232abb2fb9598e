"""What the learner page reads besides the readiness report: who the learner is (following a
merge to the learner kept) and a one-line summary of the statements behind the evidence shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.learner_tables import learners
from lrs_connector.store.tables import statements

MAX_TEXT = 200
_CHUNK = 400
_MAX_MERGE_HOPS = 20


@dataclass(frozen=True, slots=True)
class Learner:
    id: int
    name: str | None


def learner(conn: Connection, learner_id: int) -> Learner | None:
    """The learner, or the one it was merged into (a link issued before a merge still works
    for the same person); None when unknown."""
    for _ in range(_MAX_MERGE_HOPS):
        row = conn.execute(
            sa.select(learners.c.id, learners.c.name, learners.c.merged_into)
            .where(learners.c.id == learner_id)
        ).first()
        if row is None:
            return None
        if row.merged_into is None:
            return Learner(row.id, row.name)
        learner_id = row.merged_into
    return None


@dataclass(frozen=True, slots=True)
class StatementSummary:
    id: str
    verb: str  # display text, else the verb IRI's last segment
    activity: str  # the activity's name, else its id
    activity_id: str | None
    timestamp: str


def _text(language_map, fallback: str) -> str:
    if isinstance(language_map, dict) and language_map:
        for tag in ("en-US", "en-GB", "en"):
            if isinstance(language_map.get(tag), str):
                return language_map[tag][:MAX_TEXT]
        first = next(iter(language_map.values()))
        if isinstance(first, str):
            return first[:MAX_TEXT]
    return fallback[:MAX_TEXT]


def summaries(conn: Connection, ids: Sequence[str]) -> dict[str, StatementSummary]:
    """Verb, activity and time of each stored statement in `ids` (missing ones are left out)."""
    out: dict[str, StatementSummary] = {}
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            sa.select(statements.c.id, statements.c.verb_id, statements.c.object_id,
                      statements.c.timestamp, statements.c.body)
            .where(statements.c.id.in_(chunk))
        )
        for row in rows:
            try:
                body = orjson.loads(row.body)
            except orjson.JSONDecodeError:
                body = {}
            verb = body.get("verb") if isinstance(body, dict) else None
            target = body.get("object") if isinstance(body, dict) else None
            definition = target.get("definition") if isinstance(target, dict) else None
            verb_text = _text(
                verb.get("display") if isinstance(verb, dict) else None,
                row.verb_id.rstrip("/").rsplit("/", 1)[-1],
            )
            activity = _text(
                definition.get("name") if isinstance(definition, dict) else None,
                row.object_id or "(no activity)",
            )
            out[row.id] = StatementSummary(row.id, verb_text, activity, row.object_id,
                                           row.timestamp.isoformat())
    return out
