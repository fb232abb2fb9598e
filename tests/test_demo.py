"""The demo data is valid xAPI and speaks the bundled profile, so later stages can use it."""

from __future__ import annotations

from lrs_connector import demo
from lrs_connector.profiles import ProfileSet
from lrs_connector.xapi.validation import validate_statement


def test_demo_statements_are_valid_and_each_fits_a_bundled_template():
    profiles = ProfileSet.bundled()
    for statement in demo.statements():
        assert validate_statement(statement, "1.0.3") == [], statement["id"]
        outcome = profiles.match_statement(statement)
        assert outcome.matched, (statement["verb"]["id"], outcome.as_dict())


def test_demo_learners_differ():
    by_learner: dict[str, set[str]] = {}
    for statement in demo.statements():
        by_learner.setdefault(statement["actor"]["account"]["name"], set()).add(
            statement["verb"]["id"]
        )
    assert len(by_learner) == len(demo.LEARNERS)
    assert len({frozenset(v) for v in by_learner.values()}) == len(by_learner)
