"""Evidence derived from a statement: one row per (learner, matched rule, target).

The key is a hash of (statement id, member, rule id, mapping version, target): processing the
same statement again, on any worker, gives the same keys, so storage can insert-or-ignore.
``member`` is empty for a statement by one Agent and the member's alias for each member of an
anonymous Group, so the key never depends on learner ids (which merges change).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, NamedTuple

from lrs_connector.learners import Identity, identities
from lrs_connector.mapping.rules import Mapper


class Derived(NamedTuple):
    """An evidence row before the learner is known (``alias`` names who it belongs to).

    A named tuple, not a dataclass: replay builds millions of them, and a tuple is made
    several times faster while being just as immutable."""

    key: str
    statement_id: str
    alias: str
    rule_id: str
    mapping_version: int
    target: str
    weight: float
    polarity: str
    kind: str
    confidence: float
    timestamp: datetime
    valid_until: datetime | None

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Who, what and why, without the version: what-if compares versions on this."""
        return (self.statement_id, self.alias, self.rule_id, self.target)


def evidence_key(statement_id: str, member: str, rule_id: str, version: int, target: str) -> str:
    text = "\x1f".join((statement_id, member, rule_id, str(version), target))
    return hashlib.sha256(text.encode()).hexdigest()


def statement_time(statement: dict[str, Any]) -> datetime:
    """The statement's timestamp (stored statements always have one), as aware UTC."""
    raw = statement.get("timestamp") or statement.get("stored")
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def derive(
    statement: dict[str, Any], mapper: Mapper, version: int
) -> tuple[list[Identity], list[Derived]]:
    """The learners a statement names and the evidence the mapping gives them."""
    people = identities(statement.get("actor"))
    if not people:
        return people, []
    matched = mapper.evaluate(statement)
    if not matched:
        return people, []
    statement_id = statement["id"]
    moment = statement_time(statement)
    solo = len(people) == 1 and statement["actor"].get("objectType") != "Group"
    until: dict[int, datetime] = {}
    rows = []
    for person in people:
        member = "" if solo else person.primary
        head = f"{statement_id}\x1f{member}\x1f"  # evidence_key, built once per person
        for rule in matched:
            middle = f"{head}{rule.id}\x1f{version}\x1f"
            for target in rule.targets:
                days = target.valid_days
                if days:
                    valid_until = until.get(days)
                    if valid_until is None:
                        valid_until = until[days] = moment + timedelta(days=days)
                else:
                    valid_until = None
                rows.append(
                    Derived(
                        sha256((middle + target.iri).encode()).hexdigest(),
                        statement_id,
                        person.primary,
                        rule.id,
                        version,
                        target.iri,
                        target.weight,
                        target.polarity,
                        target.kind,
                        target.confidence,
                        moment,
                        valid_until,
                    )
                )
    return people, rows
