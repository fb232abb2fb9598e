"""A learner's readiness as JSON-ready data: what the API answers and the CLI prints.

From the role score down: requirements (with each one's gap in readiness points), the
competencies and dimensions (own evidence, what they average from below), and each evidence
item (statement id, rule id and version, decay, strength, contribution). Scores are rounded to
one decimal and proficiencies to four for reading; the levels come from the unrounded scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lrs_connector.readiness.scoring import Activity, CellScore, Readiness, Scorer


def _r(value: float, digits: int = 4) -> float:
    return round(value, digits)


def _evidence(cell: CellScore | None) -> list[dict[str, Any]]:
    if cell is None:
        return []
    return [
        {
            "statement_id": s.item.statement_id,
            "rule_id": s.item.rule_id,
            "rule_version": s.item.rule_version,
            "kind": s.item.kind,
            "polarity": s.item.polarity,
            "weight": s.item.weight,
            "confidence": s.item.confidence,
            "timestamp": s.item.timestamp.isoformat(),
            "valid_until": s.item.valid_until.isoformat() if s.item.valid_until else None,
            "decay": _r(s.decay),
            "strength": _r(s.strength),
            "contribution": _r(s.contribution),
        }
        for s in cell.items
    ]


def report(
    scorer: Scorer,
    result: Readiness,
    *,
    learner_id: int | None = None,
    role: str | None = None,
    activities: Mapping[str, Sequence[Activity | str]] | None = None,
    history: Sequence[dict[str, Any]] = (),
    steps: int = 5,
) -> dict[str, Any]:
    """The readiness report (every role, or only ``role``)."""
    framework = scorer.framework
    roles = [role] if role else list(framework.roles)
    out_roles = []
    for iri in roles:
        score = result.roles[iri]
        entry: dict[str, Any] = {
            "role": iri,
            "code": score.code,
            "name": score.name,
            "score": round(score.score, 1),
            "level": score.level,
            "requirements": [
                {
                    "target": q.target,
                    "code": _code(scorer, q.target),
                    "kind": q.kind,
                    "required": q.required,
                    "weight": q.weight,
                    "proficiency": _r(q.proficiency),
                    "attainment": _r(q.attainment),
                    "gap": round(q.gap, 2),
                }
                for q in sorted(score.requirements, key=lambda q: (-q.gap, q.target))
            ],
        }
        if activities is not None:
            entry["next_steps"] = [
                dict(step, code=_code(scorer, step["target"]),
                     proficiency=_r(step["proficiency"]), gap=round(step["gap"], 2))
                for step in scorer.next_steps(result, iri, activities, limit=steps)
            ]
        out_roles.append(entry)
    competencies, dimensions = [], []
    for iri, target in result.targets.items():
        node = framework.target(iri)
        cell = result.cells.get(iri)
        entry = {
            "target": iri,
            "code": node.code if node else iri,
            "name": node.name if node else iri,
            "proficiency": _r(target.proficiency),
            "own": _r(target.own),
            "derived": None if target.derived is None else _r(target.derived),
            "derived_from": [_code(scorer, s) for s in target.sources],
            "strength": _r(cell.strength) if cell else 0.0,
            "evidence_count": cell.counted if cell else 0,
            "evidence": _evidence(cell),
        }
        if target.kind == "dimension":
            dimensions.append(entry)
        else:
            entry["kind"] = getattr(node, "kind", "competency")
            entry["parent"] = getattr(node, "parent", None)
            competencies.append(entry)
    competencies.sort(key=lambda e: e["code"])
    dimensions.sort(key=lambda e: e["code"])
    return {
        "learner_id": learner_id,
        "at": result.at.isoformat(),
        "framework": {"iri": framework.iri, "version": framework.version},
        "scale_top": scorer.top,
        "model": scorer.model.describe(),
        "roles": out_roles,
        "dimensions": dimensions,
        "competencies": competencies,
        "history": list(history),
    }


def _code(scorer: Scorer, iri: str) -> str:
    node = scorer.framework.target(iri)
    return node.code if node else iri


def role_by_reference(scorer: Scorer, reference: str) -> str | None:
    """A role IRI from its IRI or code (case-insensitive), or None."""
    roles = scorer.framework.roles
    if reference in roles:
        return reference
    lowered = reference.lower()
    for iri, role in roles.items():
        if role.code.lower() == lowered or iri.rsplit("/", 1)[-1].lower() == lowered:
            return iri
    return None


def text(data: dict[str, Any], *, evidence: bool = True) -> str:
    """The report for a terminal: roles, requirements with gaps, next steps, evidence."""
    lines = [f"Learner {data['learner_id']}: readiness at {data['at']}"]
    names = {e["target"]: e for e in [*data["competencies"], *data["dimensions"]]}
    for role in data["roles"]:
        lines += ["", f"{role['name']} ({role['code']}): {role['score']:.1f}/100, {role['level']}"]
        lines.append(f"  {'requirement':<44} {'have':>6} {'need':>5} {'weight':>6} {'gap':>6}")
        for q in role["requirements"]:
            label = f"{q['code']} {names.get(q['target'], {}).get('name', '')}"[:44]
            lines.append(
                f"  {label:<44} {q['proficiency']:>6.2f} {q['required']:>5} "
                f"{q['weight']:>6.2f} {q['gap']:>6.2f}"
            )
        for step in role.get("next_steps", []):
            lines.append(f"  next: {step['code']} (gap {step['gap']:.2f} points)")
            for activity in step["activities"]:
                rule = f" [{activity['rule_id']}]" if activity.get("rule_id") else ""
                lines.append(f"    - {activity['description']}{rule}")
    if evidence:
        lines += ["", "Evidence (statement, rule@version, strength now → contribution):"]
        for entry in [*data["dimensions"], *data["competencies"]]:
            if not entry["evidence"] and not entry["own"]:
                continue
            lines.append(
                f"  {entry['code']} {entry['name']}: proficiency {entry['proficiency']:.2f}"
                f" (own {entry['own']:.2f}, strength {entry['strength']:.3f})"
            )
            for item in entry["evidence"]:
                lines.append(
                    f"    {item['statement_id']} {item['rule_id']}@{item['rule_version']} "
                    f"{item['polarity']} {item['kind']}: {item['strength']:+.3f} → "
                    f"{item['contribution']:+.3f}"
                )
    if data["history"]:
        lines += ["", "History:"]
        for point in data["history"]:
            lines.append(f"  {point['at']} {point['role'].rsplit('/', 1)[-1]}: "
                         f"{point['score']:.1f} {point['level']}")
    return "\n".join(lines)
