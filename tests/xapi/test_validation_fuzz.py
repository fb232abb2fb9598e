"""Property tests: validate_statement never raises on JSON-decoded input, valid stays valid.

Random JSON alone rarely reaches deep validators, so the second strategy takes a full valid
statement and replaces one nested value (chosen by a random path) with random JSON.
"""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrs_connector.xapi.comparison import equivalent
from lrs_connector.xapi.validation import Problem, validate_statement
from tests.xapi import full_statement, substatement

KEYS = st.sampled_from(
    [
        "id",
        "actor",
        "verb",
        "object",
        "objectType",
        "mbox",
        "member",
        "account",
        "homePage",
        "name",
        "definition",
        "interactionType",
        "choices",
        "score",
        "raw",
        "min",
        "max",
        "context",
        "contextActivities",
        "parent",
        "contextAgents",
        "extensions",
        "timestamp",
        "attachments",
        "display",
        "en-US",
    ]
) | st.text(max_size=8)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # includes nan/inf, which Python's json module can produce
    | st.text()
    | st.sampled_from(["Agent", "Group", "Activity", "SubStatement", "StatementRef", "choice"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def _check(value: object) -> None:
    for version in ("1.0.3", "2.0.0"):
        result = validate_statement(value, version)
        assert isinstance(result, list)
        assert all(isinstance(p, Problem) for p in result)
        assert all(isinstance(p.path, str) and isinstance(p.rule, str) for p in result)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_random_json_never_raises(value: object) -> None:
    _check(value)


def _containers(node: object, out: list) -> None:
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            _containers(v, out)
    elif isinstance(node, list):
        out.append(node)
        for v in node:
            _containers(v, out)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_mutated_statement_never_raises(data: st.DataObject, nested: bool) -> None:
    stmt = full_statement()
    if nested:
        stmt["object"] = substatement(context=copy.deepcopy(stmt["context"]))
    containers: list = []
    _containers(stmt, containers)
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(containers))
        value = data.draw(JSON)
        if isinstance(target, dict):
            key = data.draw(st.sampled_from(sorted(target)) | KEYS) if target else data.draw(KEYS)
            target[key] = value
        elif target:
            target[data.draw(st.integers(0, len(target) - 1))] = value
        else:
            target.append(value)
    _check(stmt)
    # equivalence never raises either, and is reflexive on a JSON round trip
    text = json.dumps(stmt)
    assert equivalent(json.loads(text), json.loads(text)) in (True, False)
    assert equivalent(stmt, full_statement()) in (True, False)
