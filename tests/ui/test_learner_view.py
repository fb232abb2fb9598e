"""The learner page's content from a readiness report: evidence trimmed per competency with a
count of the rest, bars on the proficiency scale, history lines on 0-100."""

from __future__ import annotations

from lrs_connector.store.learner_pages import StatementSummary
from lrs_connector.web.ui import learner_view


def _item(n: int) -> dict:
    return {"statement_id": f"s{n}", "rule_id": "completed-course", "rule_version": 3,
            "kind": "knowledge", "polarity": "positive", "weight": 1.0, "confidence": 1.0,
            "timestamp": "2026-10-01T09:00:00+00:00", "valid_until": None, "decay": 1.0,
            "strength": 1.0, "contribution": 0.25}


def _report() -> dict:
    return {
        "learner_id": 7, "at": "2026-11-28T12:00:00+00:00",
        "framework": {"iri": "https://example.org/fw", "version": "1.0"}, "scale_top": 4.0,
        "model": {"levels": [{"name": "not ready", "from": 0}, {"name": "ready", "from": 80}]},
        "roles": [{"role": "https://example.org/fw/R1", "code": "R1", "name": "Director",
                   "score": 85.04, "level": "ready", "requirements": [], "next_steps": []}],
        "dimensions": [{"target": "d1", "code": "D1", "name": "Finance", "proficiency": 3.0,
                        "own": 0.0, "derived": 3.0, "derived_from": ["C1"], "strength": 0.0,
                        "evidence": []}],
        "competencies": [{"target": "c1", "code": "C1", "name": "Budgets", "proficiency": 3.0,
                          "own": 3.0, "derived": None, "derived_from": [], "strength": 2.0,
                          "evidence": [_item(n) for n in range(3)], "kind": "competency",
                          "parent": None}],
        "history": [
            {"role": "https://example.org/fw/R1", "score": 40.0, "level": "not ready",
             "at": "2026-10-01T09:00:00+00:00"},
            {"role": "https://example.org/fw/R1", "score": 85.0, "level": "ready",
             "at": "2026-11-01T09:00:00+00:00"},
        ],
    }


def test_page_shows_the_strongest_evidence_and_counts_the_rest():
    summaries = {"s0": StatementSummary("s0", "completed", "Budgeting 101", "https://x/1",
                                        "2026-10-01T09:00:00+00:00")}
    page = learner_view.build(_report(), learner_name=None, statements=summaries,
                              evidence_counts={"c1": 250}, limit=2)
    competency = next(c for c in page.competencies if c["code"] == "C1")
    assert [e["statement_id"] for e in competency["evidence"]] == ["s0", "s1"]
    assert competency["more"] == 248
    assert competency["evidence"][0]["activity"] == "Budgeting 101"
    assert competency["evidence"][0]["rule"] == "completed-course v3"
    assert competency["evidence"][1]["activity"] == "(statement not stored here)"
    assert page.learner_name == "Learner 7"
    assert page.roles[0]["level_class"] == "level-1"


def test_chart_geometry_follows_the_scales():
    page = learner_view.build(_report(), learner_name="Ada", statements={})
    (bar,) = page.bars
    assert bar.width == learner_view.BAR_WIDTH * 3 / 4 and bar.label == "Finance (D1)"
    chart = page.history_chart
    (series,) = chart.series
    (x0, y0), (x1, y1) = series.dots
    assert x0 == chart.left and x1 == chart.right_edge  # first and last moment at the edges
    assert y1 < y0  # a higher score is drawn higher
    assert series.last == "85.0 (ready)"
    assert [row["score"] for row in page.history_rows] == [85.0, 40.0]  # newest first
