"""Audit reads shared by the CLI and the API: explain one statement, coverage of the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from lrs_connector.learners import identities
from lrs_connector.mapping import MappingError
from lrs_connector.store import database, evidence, frameworks
from lrs_connector.store import learners as learner_store
from lrs_connector.store import mapping as store
from lrs_connector.store import statements as stored_statements


class ExplainError(LookupError):
    """No such statement or version, or nothing published; ``status`` suits an HTTP answer."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def _version(conn, version: int | None) -> int:
    if version is None:
        active = store.active(conn, datetime.now(UTC))
        if active is None:
            raise ExplainError("no mapping version is published", 409)
        return active.version
    return version


def explain(engine: Engine, statement_id: str, version: int | None = None) -> dict[str, Any]:
    """Every rule of the version on one stored statement, its learners and evidence rows."""
    with database.write(engine) as conn:  # may publish the bundled rules on first use
        version = _version(conn, version)
    with database.read(engine) as conn:
        found = stored_statements.get(conn, statement_id)
        if found is None:
            raise ExplainError(f"no stored statement {statement_id}")
        try:
            mapper = store.mapper(conn, version)
        except store.VersionError as exc:
            raise ExplainError(str(exc)) from None
        except MappingError as exc:
            message = f"mapping version {version} no longer compiles: {exc}"
            raise ExplainError(message, 409) from None
        people = identities(found.statement.get("actor"))
        known = learner_store.lookup(conn, sorted({k for p in people for k in p.keys}))
        outcomes = mapper.explain(found.statement)
        return {
            "statement": found.id,
            "voided": found.voided,
            "mapping_version": version,
            "learners": [
                {"alias": p.primary, "learner": learner_store.owner(known, p)} for p in people
            ],
            "note": _note(found, people),
            "matched": [o.rule.id for o in outcomes if o.matched],
            "rules": [o.as_dict() for o in outcomes],
            "evidence": evidence.for_statement(conn, found.id),
        }


def _note(found, people) -> str | None:
    if found.voided:
        return "the statement is voided: it gives no evidence (rows it gave are retracted)"
    if found.voids:
        return "a voiding statement gives no evidence"
    if not people:
        return "the actor is an identified group (or has no identifier): no learner evidence"
    return None


def coverage(engine: Engine, limit: int = 50) -> dict[str, Any]:
    with database.write(engine) as conn:
        version = _version(conn, None)
    with database.read(engine) as conn:
        mapper = store.mapper(conn, version)
        targets = store.known_targets(frameworks.in_force(conn))
        return evidence.coverage(conn, mapper, version, sorted(targets), limit)
