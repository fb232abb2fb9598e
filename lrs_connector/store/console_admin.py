"""What the admin console reads and writes beyond the API's store functions: the last check of
each LMS target (shared by every web process) and what a learner merge would move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector.store.console_tables import target_checks
from lrs_connector.store.learner_tables import learner_aliases, learners
from lrs_connector.store.mapping_tables import evidence

#: Bounds on what a check may store: its messages can quote an LMS's answer.
MAX_FINDINGS = 50
MAX_TEXT = 1000


@dataclass(frozen=True)
class CheckResult:
    target: str
    checked_at: datetime
    checked_by: str
    ok: bool
    findings: list[dict[str, Any]]


def _bounded(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        "check": str(finding.get("check", ""))[:200],
        "ok": bool(finding.get("ok")),
        "message": str(finding.get("message", ""))[:MAX_TEXT],
        "fix": str(finding.get("fix", ""))[:MAX_TEXT],
    }


def save_check(conn: Connection, target: str, findings: list[dict[str, Any]], by: str,
               now: datetime) -> CheckResult:
    """Remember a target's latest check (replacing the one before)."""
    kept = [_bounded(f) for f in findings[:MAX_FINDINGS]]
    ok = bool(kept) and all(f["ok"] for f in kept)
    conn.execute(target_checks.delete().where(target_checks.c.target == target))
    conn.execute(target_checks.insert().values(
        target=target, checked_at=now, checked_by=by[:100], ok=ok,
        findings=orjson.dumps(kept).decode()))
    return CheckResult(target, now, by[:100], ok, kept)


def last_checks(conn: Connection) -> dict[str, CheckResult]:
    """target name → its latest check."""
    out = {}
    for row in conn.execute(sa.select(target_checks)):
        try:
            findings = [_bounded(f) for f in orjson.loads(row.findings) if isinstance(f, dict)]
        except orjson.JSONDecodeError:
            findings = []
        out[row.target] = CheckResult(row.target, row.checked_at, row.checked_by, row.ok,
                                      findings)
    return out


def learner_summary(conn: Connection, learner_id: int) -> dict[str, Any] | None:
    """A learner as the merge preview shows it: name, aliases, evidence rows (active and
    retracted) and whom it was merged into."""
    row = conn.execute(sa.select(learners).where(learners.c.id == learner_id)).first()
    if row is None:
        return None
    aliases = list(conn.execute(
        sa.select(learner_aliases.c.alias).where(learner_aliases.c.learner_id == learner_id)
        .order_by(learner_aliases.c.alias)).scalars())
    counts = conn.execute(
        sa.select(evidence.c.retracted, sa.func.count())
        .where(evidence.c.learner_id == learner_id).group_by(evidence.c.retracted)).all()
    by_state = {bool(retracted): count for retracted, count in counts}
    return {
        "id": row.id,
        "name": row.name,
        "merged_into": row.merged_into,
        "aliases": aliases,
        "evidence_active": by_state.get(False, 0),
        "evidence_retracted": by_state.get(True, 0),
    }
