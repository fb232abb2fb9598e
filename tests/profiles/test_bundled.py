"""The shipped L&D leadership profile behaves as its definitions say."""

import pytest

from lrs_connector.profiles import INVALID, MATCH, PARTIAL, SUCCESS, ProfileSet

LND = "https://lrs-connector.dev/xapi"
EXT = f"{LND}/extensions/"
ADL = "http://adlnet.gov/expapi/verbs/"


@pytest.fixture(scope="module")
def bundled():
    return ProfileSet.bundled()


def st(verb, activity_type=None, sid=None, timestamp=None, **extra):
    obj = {"id": "https://example.org/activities/1"}
    if activity_type:
        obj["definition"] = {"type": f"{LND}/activity-types/{activity_type}"}
    statement = {"actor": {"mbox": "mailto:ana@example.org"}, "verb": {"id": verb}, "object": obj}
    if sid:
        statement["id"] = sid
    if timestamp:
        statement["timestamp"] = timestamp
    statement.update(extra)
    return statement


def outcomes(bundled, statement):
    return {
        r.template_id.rsplit("/", 1)[-1]: r.outcome
        for r in bundled.match_statement(statement).results
        if r.outcome != "unmatched"
    }


def test_formal_learning_reads_result_success_not_the_score(bundled):
    # A 67% pass is a pass: result.success decides.
    passed = st(f"{ADL}passed", result={"success": True, "score": {"scaled": 0.67}})
    assert outcomes(bundled, passed) == {"passed-learning": SUCCESS}
    contradictory = st(f"{ADL}passed", result={"success": False})
    assert outcomes(bundled, contradictory) == {"passed-learning": INVALID}
    failed = st(f"{ADL}failed", result={"success": False, "score": {"scaled": 0.4}})
    assert outcomes(bundled, failed) == {"failed-learning": SUCCESS}
    # Completion-only sources count.
    assert outcomes(bundled, st(f"{ADL}completed")) == {"completed-learning": SUCCESS}
    not_done = st(f"{ADL}completed", result={"completion": False})
    assert outcomes(bundled, not_done) == {"completed-learning": INVALID}


def test_on_the_job_evidence(bundled):
    partnered = st(
        f"{LND}/verbs/partnered",
        "cross-functional-partnership",
        context={
            "extensions": {
                f"{EXT}business-function": "finance",
                f"{EXT}readiness-stretch": ["influence"],
            }
        },
    )
    assert outcomes(bundled, partnered) == {"partnered-with-function": SUCCESS}
    partnered["context"]["extensions"][f"{EXT}business-function"] = "learning"
    assert outcomes(bundled, partnered) == {"partnered-with-function": INVALID}
    feedback = st(f"{LND}/verbs/received", "stakeholder-feedback")
    endorsement = st(f"{LND}/verbs/received", "stakeholder-endorsement")
    assert outcomes(bundled, feedback) == {"received-stakeholder-feedback": SUCCESS}
    # An endorsement must name who endorsed.
    assert outcomes(bundled, endorsement) == {"received-stakeholder-endorsement": INVALID}
    budget = st(f"{LND}/verbs/owned", "budget")
    budget["object"]["definition"]["extensions"] = {
        f"{EXT}budget-amount": {"amount": 120000, "currency": "EUR"}
    }
    assert outcomes(bundled, budget) == {"owned-budget": SUCCESS}
    del budget["object"]["definition"]["extensions"][f"{EXT}budget-amount"]["currency"]
    assert outcomes(bundled, budget) == {"owned-budget": INVALID}


def test_business_case_pattern(bundled):
    def case(verb, sid, ts, **extra):
        return st(f"{LND}/verbs/{verb}", "business-case", sid=sid, timestamp=ts, **extra)

    roi = {"extensions": {f"{EXT}projected-roi": 0.35}}
    series = [
        case("drafted", "d", "2025-03-01T09:00:00Z"),
        case("presented", "p1", "2025-03-10T09:00:00Z", result=roi),
        case("presented", "p2", "2025-03-20T09:00:00Z", result=roi),
    ]
    pattern_id = f"{LND}/patterns/business-case-to-decision"
    assert bundled.match_pattern(pattern_id, series).status == PARTIAL
    series.append(
        case(
            "received-decision",
            "dec",
            "2025-04-01T09:00:00Z",
            result={"success": True, "extensions": {f"{EXT}decision": "approved"}},
        )
    )
    assert bundled.match_pattern(pattern_id, series).status == MATCH


def test_bundled_patterns_are_primary_where_meant(bundled):
    primary = {p.id.rsplit("/", 1)[-1] for p in bundled.patterns(primary_only=True)}
    assert primary == {"business-case-to-decision", "change-roll-out", "assessment-until-passed"}
