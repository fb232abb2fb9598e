"""The worked example of docs/scoring.md, number for number, plus the model's unit rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector.frameworks.model import (
    Competency,
    Dimension,
    ProficiencyLevel,
    Requirement,
    Role,
    build,
)
from lrs_connector.readiness import EvidenceItem, ModelError, Scorer, ScoringModel
from lrs_connector.readiness.model import from_settings, parse_levels
from lrs_connector.readiness.scoring import Activity
from lrs_connector.settings import SettingsError, load_settings

X = "https://example.org/fw/"
AT = datetime(2026, 1, 1, tzinfo=UTC)
FRAMEWORK = build(
    iri=X,
    version="1",
    name="Example",
    description="",
    competencies=[
        Competency(X + "R", "R", "Resourcing", "", None, "responsibility", ()),
        Competency(X + "A", "A", "Budget ownership", "", X + "R", "competency", (X + "D",)),
        Competency(X + "B", "B", "Vendor management", "", X + "R", "competency", (X + "D",)),
    ],
    dimensions=[Dimension(X + "D", "D", "Financial fluency", "")],
    scale=[ProficiencyLevel(v, str(v), "") for v in range(5)],
    roles=[
        Role(X + "role", "ROLE", "Training manager", "", (
            Requirement(X + "A", 2, 2.0),
            Requirement(X + "B", 2, 1.0),
            Requirement(X + "D", 3, 1.0),
        ))
    ],
)


def item(n, target, kind, weight, confidence, days_ago, polarity="positive", valid_days=None):
    moment = AT - timedelta(days=days_ago)
    return EvidenceItem(
        f"k{n}", f"s{n}", X + target, "rule", 1, weight, polarity, kind, confidence, moment,
        moment + timedelta(days=valid_days) if valid_days else None,
    )


EVIDENCE = [
    item(1, "A", "practice", 1.5, 1.0, 0),
    item(2, "A", "feedback", 1.0, 1.0, 365),
    item(3, "B", "practice", 1.0, 1.0, 0),
    item(4, "B", "knowledge", 1.0, 0.8, 365),
    item(5, "B", "knowledge", 0.4, 1.0, 0, polarity="negative"),
    item(6, "B", "practice", 1.0, 1.0, 200, valid_days=100),  # lapsed 100 days ago
]


def test_the_worked_example_of_the_docs():
    scorer = Scorer(FRAMEWORK, ScoringModel())
    result = scorer.readiness(EVIDENCE, AT)
    a, b = result.cells[X + "A"], result.cells[X + "B"]
    assert a.strength == pytest.approx(2.0) and a.proficiency == pytest.approx(2.0)
    assert [round(s.contribution, 4) for s in a.items] == [1.5, 0.5]
    assert b.strength == pytest.approx(1.0) and b.proficiency == pytest.approx(1.17157, abs=1e-5)
    assert len(b.items) == 3  # the lapsed item does not count
    assert result.targets[X + "R"].proficiency == pytest.approx(1.58579, abs=1e-5)
    assert result.targets[X + "D"].proficiency == pytest.approx(1.58579, abs=1e-5)
    role = result.roles[X + "role"]
    assert role.score == pytest.approx(77.86, abs=0.005) and role.level == "developing"
    gaps = {r.target.rsplit("/", 1)[1]: round(r.gap, 2) for r in role.requirements}
    assert gaps == {"A": 0.0, "B": 10.36, "D": 11.79}
    steps = scorer.next_steps(
        result, X + "role",
        {X + "B": [Activity("vendor-review", "Ran a vendor review", "practice")],
         X + "A": ["Owned a budget"]},
    )
    assert [s["target"] for s in steps] == [X + "D", X + "B"]
    # D's activities: its own (none), then its weakest competency's (B), then A's.
    assert [a["description"] for a in steps[0]["activities"]] == [
        "Ran a vendor review", "Owned a budget"
    ]
    # A year later, with no new evidence, every strength has halved.
    later = scorer.readiness(EVIDENCE, AT + timedelta(days=365))
    assert later.cells[X + "A"].proficiency == pytest.approx(1.17157, abs=1e-5)
    assert later.roles[X + "role"].score < role.score


def test_levels_and_settings():
    model = ScoringModel()
    assert [model.level(s) for s in (0, 24.99, 25, 50, 79.9, 80, 100)] == [
        "not ready", "not ready", "emerging", "developing", "developing", "ready", "ready"
    ]
    assert parse_levels(("ready=80", "emerging=25")) == (
        ("not ready", 0.0), ("emerging", 25.0), ("ready", 80.0)
    )
    built = from_settings(load_settings(environ={
        "LRS_CONNECTOR_READINESS_HALF_LIFE_DAYS": "180",
        "LRS_CONNECTOR_READINESS_KIND_WEIGHTS": "knowledge=0.5,practice=1",
        "LRS_CONNECTOR_READINESS_LEVELS": "low=0,high=60",
    }))
    assert built.half_life_days == 180 and built.kind_weight("knowledge") == 0.5
    assert built.level(61) == "high"
    # A bad readiness setting stops start-up (load_settings), naming the setting.
    with pytest.raises(SettingsError, match="readiness_levels"):
        load_settings(environ={"LRS_CONNECTOR_READINESS_LEVELS": "a=50,b=x"})
    with pytest.raises(SettingsError, match="readiness_kind_weights"):
        load_settings(environ={"LRS_CONNECTOR_READINESS_KIND_WEIGHTS": "oops"})
    with pytest.raises(ModelError, match="levels"):
        ScoringModel(levels=(("a", 0.0), ("b", 120.0)))


def test_negative_evidence_never_makes_a_score_below_zero_and_bad_values_count_nothing():
    scorer = Scorer(FRAMEWORK, ScoringModel())
    result = scorer.readiness(
        [item(1, "A", "practice", 3.0, 1.0, 0, polarity="negative"),
         item(2, "A", "practice", float("nan"), 1.0, 0),
         item(3, "A", "practice", 1.0, float("inf"), 0)],
        AT,
    )
    assert result.cells[X + "A"].proficiency == 0.0
    assert result.roles[X + "role"].score == 0.0
