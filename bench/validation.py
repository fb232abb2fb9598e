"""Micro-benchmark: microseconds per statement for ``validate_statement``.

Run ``python bench/validation.py``.  The intake budget is ~10-20 us per typical statement
(>= 15,000 statements/s including JSON parsing and SQLite writes), so this number matters.
Each run validates distinct statements (fresh ids, registrations, e-mail addresses) so the
result does not lean on identical objects; IRIs and language tags repeat as they do in real
traffic.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lrs_connector.xapi.comparison import equivalent
from lrs_connector.xapi.validation import validate_statement


def typical_statement(i: int) -> dict:
    """A realistic LMS/course statement: agent, verb, activity, result, context, timestamp."""
    return {
        "id": str(uuid.uuid4()),
        "actor": {
            "objectType": "Agent",
            "name": f"Learner {i}",
            "mbox": f"mailto:learner{i}@example.edu",
        },
        "verb": {
            "id": "http://adlnet.gov/expapi/verbs/completed",
            "display": {"en-US": "completed"},
        },
        "object": {
            "objectType": "Activity",
            "id": f"https://lms.example.edu/courses/101/modules/{i % 50}",
            "definition": {
                "name": {"en-US": "Module quiz"},
                "description": {"en-US": "End of module assessment"},
                "type": "http://adlnet.gov/expapi/activities/assessment",
            },
        },
        "result": {
            "score": {"scaled": 0.85, "raw": 85, "min": 0, "max": 100},
            "success": True,
            "completion": True,
            "duration": "PT12M30.5S",
        },
        "context": {
            "registration": str(uuid.uuid4()),
            "contextActivities": {
                "parent": [{"id": "https://lms.example.edu/courses/101"}],
                "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}],
            },
            "platform": "Example LMS",
            "language": "en-US",
            "extensions": {"https://lms.example.edu/xapi/ext/attempt": i % 3},
        },
        "timestamp": "2024-05-04T12:00:00.123Z",
    }


def account_statement(i: int) -> dict:
    """Same shape, but the actor is identified by an account (the other common case)."""
    s = typical_statement(i)
    s["actor"] = {"account": {"homePage": "https://lms.example.edu", "name": f"user-{i}"}}
    return s


def bench(label: str, fn, statements: list[dict], rounds: int = 5) -> float:
    """Best-of-``rounds`` microseconds per call of ``fn`` over ``statements``."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for s in statements:
            fn(s)
        best = min(best, time.perf_counter() - t0)
    us = best / len(statements) * 1e6
    print(f"{label:<42} {us:7.2f} us/statement  ({1e6 / us:,.0f}/s)")
    return us


def main() -> None:
    n = 20_000
    mbox = [typical_statement(i) for i in range(n)]
    account = [account_statement(i) for i in range(n)]
    assert validate_statement(mbox[0]) == [], validate_statement(mbox[0])
    assert validate_statement(account[0], "2.0.0") == []
    bench("validate 1.0.3, mbox actor", validate_statement, mbox)
    bench("validate 2.0.0, account actor", lambda s: validate_statement(s, "2.0.0"), account)
    bad = [dict(s, verb={"id": "not an iri"}) for s in mbox[:5000]]
    bench("validate 1.0.3, invalid verb id", validate_statement, bad)
    copies = [(s, dict(s)) for s in mbox]
    bench("equivalent, identical re-POST", lambda pair: equivalent(*pair), copies)


if __name__ == "__main__":
    main()
