"""The learner page's content, built from the readiness report (no Flask, no SQL): what each
section shows and the geometry of its two SVG charts.

A learner can have thousands of evidence items; the page shows the strongest few per
competency (the report orders them by strength) and says how many more there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVIDENCE_PER_COMPETENCY = 10
ACTIVITIES_PER_STEP = 3
LEVEL_CLASSES = 4  # CSS has level-0 … level-3; further levels reuse the last

# Chart geometry (SVG user units; the SVGs scale to the page width).
BAR_WIDTH = 330  # the bar track; values are written to its right (chart width 400)
BAR_ROW = 46
LINE_WIDTH, LINE_HEIGHT = 600, 260
LINE_LEFT, LINE_RIGHT, LINE_TOP, LINE_BOTTOM = 44, 16, 14, 36
SERIES_STYLES = (("#1f5fa8", ""), ("#a33b00", "8 5"), ("#2d6a2e", "2 4"), ("#6b3fa0", "12 4 2 4"))


@dataclass
class Bar:
    label: str
    value: float
    top: float
    y: float
    width: float


@dataclass
class Series:
    name: str
    code: str
    color: str
    dash: str
    points: str
    dots: list[tuple[float, float]]
    last: str


@dataclass
class LineChart:
    series: list[Series]
    y_ticks: list[tuple[float, int]]  # (y, score)
    x_ticks: list[tuple[float, str]]  # (x, date)
    width: int = LINE_WIDTH
    height: int = LINE_HEIGHT
    left: int = LINE_LEFT
    right_edge: int = LINE_WIDTH - LINE_RIGHT
    bottom_edge: int = LINE_HEIGHT - LINE_BOTTOM


@dataclass
class Page:
    learner_id: int
    learner_name: str
    at: str
    framework: str
    scale_top: float
    roles: list[dict[str, Any]]
    bars: list[Bar]
    bars_height: float
    competencies: list[dict[str, Any]]
    history_chart: LineChart | None
    history_rows: list[dict[str, Any]]
    badges: list[dict[str, Any]] = field(default_factory=list)


def _date(value: str | None) -> str:
    return value[:10] if value else ""


def _moment(value: str) -> str:
    return value[:16].replace("T", " ")


def _level_class(level: str, levels: list[str]) -> str:
    index = levels.index(level) if level in levels else 0
    return f"level-{min(index, LEVEL_CLASSES - 1)}"


def evidence_ids(report: Mapping[str, Any], limit: int = EVIDENCE_PER_COMPETENCY) -> list[str]:
    """The statement ids the page will show (to look up their summaries)."""
    ids = []
    for entry in [*report["competencies"], *report["dimensions"]]:
        ids.extend(item["statement_id"] for item in entry["evidence"][:limit])
    return ids


def build(
    report: Mapping[str, Any],
    *,
    learner_name: str | None,
    statements: Mapping[str, Any],
    evidence_counts: Mapping[str, int] | None = None,
    limit: int = EVIDENCE_PER_COMPETENCY,
) -> Page:
    """The page for one learner's report; `statements` maps ids to StatementSummary;
    `evidence_counts` gives each target's number of items when the report holds only the
    strongest few (default: the report's own count)."""
    counts = evidence_counts or {}
    names = {e["target"]: e["name"] for e in [*report["competencies"], *report["dimensions"]]}
    levels = [lv["name"] for lv in report["model"]["levels"]]
    roles = []
    for role in report["roles"]:
        roles.append({
            "name": role["name"],
            "code": role["code"],
            "score": role["score"],
            "level": role["level"],
            "level_class": _level_class(role["level"], levels),
            "requirements": [
                {"code": q["code"], "name": names.get(q["target"], q["code"]),
                 "proficiency": q["proficiency"], "required": q["required"], "gap": q["gap"]}
                for q in role["requirements"]
            ],
            "next_steps": [
                {"code": s["code"], "name": names.get(s["target"], s["code"]), "gap": s["gap"],
                 "activities": s["activities"][:ACTIVITIES_PER_STEP]}
                for s in role.get("next_steps", [])
            ],
        })
    top = float(report["scale_top"]) or 1.0
    bars = [
        Bar(label=f"{d['name']} ({d['code']})", value=d["proficiency"], top=top,
            y=index * BAR_ROW, width=round(BAR_WIDTH * min(1.0, d["proficiency"] / top), 1))
        for index, d in enumerate(report["dimensions"])
    ]
    competencies = []
    for entry in [*report["dimensions"], *report["competencies"]]:
        shown = entry["evidence"][:limit]
        competencies.append({
            "code": entry["code"],
            "name": entry["name"],
            "kind": entry.get("kind", "dimension"),
            "proficiency": entry["proficiency"],
            "own": entry["own"],
            "derived": entry["derived"],
            "derived_from": entry["derived_from"],
            "more": max(0, counts.get(entry["target"], len(entry["evidence"])) - len(shown)),
            "evidence": [_evidence(item, statements.get(item["statement_id"])) for item in shown],
        })
    history = list(report["history"])
    role_names = {r["role"]: r["name"] for r in report["roles"]}
    return Page(
        learner_id=report["learner_id"],
        learner_name=learner_name or f"Learner {report['learner_id']}",
        at=_moment(report["at"]),
        framework=f"{report['framework']['iri']} (version {report['framework']['version']})",
        scale_top=top,
        roles=roles,
        bars=bars,
        bars_height=max(1, len(bars)) * BAR_ROW,
        competencies=competencies,
        history_chart=line_chart(history, role_names) if history else None,
        history_rows=[
            {"at": _moment(p["at"]), "role": role_names.get(p["role"], p["role"]),
             "score": p["score"], "level": p["level"]}
            for p in reversed(history)
        ],
    )


def _evidence(item: Mapping[str, Any], summary) -> dict[str, Any]:
    return {
        "statement_id": item["statement_id"],
        "when": _date(item["timestamp"]),
        "verb": summary.verb if summary else "",
        "activity": summary.activity if summary else "(statement not stored here)",
        "rule": f"{item['rule_id']} v{item['rule_version']}",
        "kind": item["kind"],
        "polarity": item["polarity"],
        "contribution": item["contribution"],
        "valid_until": _date(item["valid_until"]),
    }


def line_chart(history: list[Mapping[str, Any]], role_names: Mapping[str, str]) -> LineChart:
    """Scores over time, one line per role, on a 0-100 axis."""
    moments = [datetime.fromisoformat(p["at"]).timestamp() for p in history]
    first, last = min(moments), max(moments)
    span = last - first
    inner_w = LINE_WIDTH - LINE_LEFT - LINE_RIGHT
    inner_h = LINE_HEIGHT - LINE_TOP - LINE_BOTTOM

    def x(moment: float) -> float:
        return round(LINE_LEFT + (inner_w * (moment - first) / span if span else inner_w / 2), 1)

    def y(score: float) -> float:
        return round(LINE_TOP + inner_h * (1 - min(100.0, max(0.0, score)) / 100), 1)

    by_role: dict[str, list[tuple[float, float, Mapping[str, Any]]]] = {}
    for moment, point in zip(moments, history, strict=True):
        by_role.setdefault(point["role"], []).append((x(moment), y(point["score"]), point))
    series = []
    for index, (role, points) in enumerate(sorted(by_role.items())):
        color, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
        series.append(Series(
            name=role_names.get(role, role.rsplit("/", 1)[-1]),
            code=role.rsplit("/", 1)[-1],
            color=color,
            dash=dash,
            points=" ".join(f"{px},{py}" for px, py, _ in points),
            dots=[(px, py) for px, py, _ in points],
            last=f"{points[-1][2]['score']:.1f} ({points[-1][2]['level']})",
        ))
    y_ticks = [(y(score), score) for score in (0, 25, 50, 75, 100)]
    x_ticks = [(x(first), _date(history[moments.index(first)]["at"]))]
    if span:
        x_ticks.append((x(last), _date(history[moments.index(last)]["at"])))
    return LineChart(series, y_ticks, x_ticks)
